namespace Augur.Speculative;

/// <summary>Per-request speculation counters (vLLM's vocabulary: drafted, accepted; plus the bonus token each step).</summary>
public sealed class SpeculativeStats
{
    public int Steps { get; private set; }
    public int Drafted { get; private set; }
    public int Accepted { get; private set; }
    /// <summary>Histogram[n] = steps that accepted n draft tokens.</summary>
    public int[] AcceptedHistogram { get; private set; } = new int[1];

    /// <summary>Tokens emitted per verification step (accepted + 1).</summary>
    public double MeanAccepted => Steps == 0 ? 0 : (double)(Accepted + Steps) / Steps;
    public double AcceptanceRate => Drafted == 0 ? 0 : (double)Accepted / Drafted;

    public void Record(int drafted, int accepted)
    {
        Steps++;
        Drafted += drafted;
        Accepted += accepted;
        if (accepted >= AcceptedHistogram.Length)
        {
            var h = AcceptedHistogram;
            Array.Resize(ref h, accepted + 1);
            AcceptedHistogram = h;
        }
        AcceptedHistogram[accepted]++;
    }
}
