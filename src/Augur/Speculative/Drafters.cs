using Augur.Cache;
using Augur.Model;

namespace Augur.Speculative;

/// <summary>Drafters by the names the CLI, server and benchmarks use.</summary>
public static class Drafters
{
    public static readonly string[] Names = ["none", "lookup", "recycling", "aded", "swift", "draft", "auto"];

    /// <summary>
    /// The drafter called <paramref name="name"/> for <paramref name="model"/> decoding into sequence 0 of
    /// <paramref name="cache"/>; null for "none". "draft" needs <paramref name="draftModel"/>.
    /// </summary>
    public static IDrafter? Create(string name, LlamaModel model, IKvCache cache, LlamaModel? draftModel = null, int draftMax = 10) => name switch
    {
        "none" => null,
        "lookup" => new PromptLookupDrafter(draftLength: draftMax),
        "recycling" => new TokenRecyclingDrafter(model.Config.VocabSize),
        "aded" => new AdedDrafter(depth: draftMax),
        "swift" => new SwiftDrafter(model, cache, draftLength: draftMax),
        "draft" => new DraftModelDrafter(draftModel ?? throw new InvalidRequestException("--speculative draft needs --draft-model PATH"), model.Config.VocabSize, draftMax),
        "auto" => new AdaptiveDrafter(new PromptLookupDrafter(draftLength: draftMax), new TokenRecyclingDrafter(model.Config.VocabSize), new AdedDrafter(depth: draftMax)),
        _ => throw new InvalidRequestException($"unknown speculative mode '{name}' (known: {string.Join(", ", Names)})"),
    };
}
