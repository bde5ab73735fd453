using Augur.Generation;
using Augur.Sampling;

namespace Augur.Cluster;

/// <summary>What a node does: both phases of a request (colocated, the default), or one of Splitwise's phases.</summary>
[GenerateSerializer]
public enum NodeRole { Both, Prefill, Decode }

/// <summary><see cref="FinishReason"/> on the wire.</summary>
[GenerateSerializer]
public enum NodeFinish { Length, Stop, EndOfSequence, ContextFull, Cancelled }

/// <summary>A request as a node runs it: token ids in, token ids out. Detokenizing and stop strings stay at the
/// gateway, which therefore knows exactly which tokens the client has and can resume anywhere after a failure.</summary>
[GenerateSerializer, Immutable]
public sealed record NodeJob(
    [property: Id(0)] int[] Prompt,
    [property: Id(1)] int MaxTokens,
    [property: Id(2)] WireSampling Sampling,
    [property: Id(3)] bool StopAtEos,
    [property: Id(4)] int TopLogprobs,
    [property: Id(5)] string Speculative);

/// <summary><see cref="SamplingOptions"/> on the wire (the engine's record carries no Orleans attributes).</summary>
[GenerateSerializer, Immutable]
public sealed record WireSampling(
    [property: Id(0)] float Temperature, [property: Id(1)] int TopK, [property: Id(2)] float TopP, [property: Id(3)] float MinP,
    [property: Id(4)] float RepeatPenalty, [property: Id(5)] float FrequencyPenalty, [property: Id(6)] float PresencePenalty,
    [property: Id(7)] int PenaltyLastN, [property: Id(8)] int? Seed)
{
    public static WireSampling From(SamplingOptions o) =>
        new(o.Temperature, o.TopK, o.TopP, o.MinP, o.RepeatPenalty, o.FrequencyPenalty, o.PresencePenalty, o.PenaltyLastN, o.Seed);

    public SamplingOptions ToOptions() => new()
    {
        Temperature = Temperature, TopK = TopK, TopP = TopP, MinP = MinP, RepeatPenalty = RepeatPenalty,
        FrequencyPenalty = FrequencyPenalty, PresencePenalty = PresencePenalty, PenaltyLastN = PenaltyLastN, Seed = Seed,
    };
}

/// <summary>One item of a node's answer: a generated token, or (last) how the request ended on the node.</summary>
[GenerateSerializer, Immutable]
public sealed record NodeToken(
    [property: Id(0)] int Token,
    [property: Id(1)] float Logprob,
    [property: Id(2)] bool FromDraft,
    [property: Id(3)] int[] TopIds,
    [property: Id(4)] float[] TopLogprobs,
    [property: Id(5)] NodeFinish? Finish = null,
    [property: Id(6)] double PromptMs = 0);

/// <summary>What a node publishes: its load and the content hashes of the KV blocks it holds.</summary>
[GenerateSerializer, Immutable]
public sealed record NodeStatus(
    [property: Id(0)] string Id,
    [property: Id(1)] NodeRole Role,
    [property: Id(2)] string Address,
    [property: Id(3)] int Running,
    [property: Id(4)] int Waiting,
    [property: Id(5)] int Parallel,
    [property: Id(6)] int Pid,
    [property: Id(7)] ulong[] CachedBlocks,
    [property: Id(8)] long PromptTokens,
    [property: Id(9)] long CachedPromptTokens,
    [property: Id(10)] int BlockSize,
    [property: Id(11)] ulong ModelHash);

/// <summary>A worker node: one grain per worker silo, keyed by the silo's name and always placed on it
/// (<see cref="NodePlacementAttribute"/>), so a dead silo's node is gone rather than re-created elsewhere.</summary>
public interface INodeGrain : IGrainWithStringKey
{
    Task<NodeStatus> Status();
    /// <summary>Runs a request; tokens stream back as they are chosen, the last item names the finish.</summary>
    IAsyncEnumerable<NodeToken> Generate(NodeJob job, CancellationToken cancel = default);
}
