using Augur.Tokenizers;

namespace Augur.Generation;

/// <summary>
/// What the server hands requests to: one <see cref="BatchScheduler"/> on this machine, or a cluster gateway
/// that places each request on a node. Same contract as <see cref="BatchScheduler.Submit"/>.
/// </summary>
public interface IRequestScheduler : IDisposable
{
    ITokenizer Tokenizer { get; }
    /// <summary>Cells per request: prompt plus generated tokens.</summary>
    int ContextLength { get; }
    ScheduledRequest Submit(GenerationRequest request, int topLogprobs = 0, CancellationToken cancel = default, string speculative = "none");
}
