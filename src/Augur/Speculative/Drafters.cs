using Augur.Cache;
using Augur.Model;

namespace Augur.Speculative;

/// <summary>Drafters by the names the CLI, server and benchmarks use.</summary>
public static class Drafters
{
    public static readonly string[] Names = ["none", "lookup", "recycling", "aded", "swift", "draft", "auto"];

    /// <summary>
    /// Drafters that need nothing but the request's own tokens — no forward passes of their own, no cache rows —
    /// so continuous batching can run them for any request (swift and draft run a model of their own between steps).
    /// </summary>
    public static readonly string[] Batchable = ["none", "lookup", "recycling", "aded", "auto"];

    /// <summary>Throws <see cref="InvalidRequestException"/>, saying why, unless <paramref name="name"/> is in <see cref="Batchable"/>.</summary>
    public static void CheckBatchable(string name)
    {
        if (Batchable.Contains(name)) return;
        throw new InvalidRequestException(name is "swift" or "draft"
            ? $"speculative mode '{name}' runs forward passes of its own, which continuous batching cannot interleave; use one of: {string.Join(", ", Batchable)}"
            : $"unknown speculative mode '{name}' (known: {string.Join(", ", Batchable)})");
    }

    /// <summary>One of <see cref="Batchable"/> by name; null for "none".</summary>
    public static IDrafter? CreateBatchable(string name, int vocabSize, int draftMax = 10)
    {
        CheckBatchable(name);
        return name switch
        {
            "lookup" => new PromptLookupDrafter(draftLength: draftMax),
            "recycling" => new TokenRecyclingDrafter(vocabSize),
            "aded" => new AdedDrafter(depth: draftMax),
            "auto" => new AdaptiveDrafter(new PromptLookupDrafter(draftLength: draftMax), new TokenRecyclingDrafter(vocabSize), new AdedDrafter(depth: draftMax)),
            _ => null, // "none"
        };
    }

    /// <summary>
    /// The drafter called <paramref name="name"/> for <paramref name="model"/> decoding into sequence 0 of
    /// <paramref name="cache"/>; null for "none". "draft" needs <paramref name="draftModel"/>.
    /// </summary>
    public static IDrafter? Create(string name, LlamaModel model, IKvCache cache, LlamaModel? draftModel = null, int draftMax = 10) => name switch
    {
        "swift" => new SwiftDrafter(model, cache, draftLength: draftMax),
        "draft" => new DraftModelDrafter(draftModel ?? throw new InvalidRequestException("--speculative draft needs --draft-model PATH"), model.Config.VocabSize, draftMax, cache.Capacity),
        _ when Batchable.Contains(name) => CreateBatchable(name, model.Config.VocabSize, draftMax),
        _ => throw new InvalidRequestException($"unknown speculative mode '{name}' (known: {string.Join(", ", Names)})"),
    };
}
