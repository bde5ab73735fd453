using System.IO.Hashing;
using Augur.Cache;
using CsCheck;

namespace Augur.Tests.Cache;

/// <summary>The block hash other nodes route on: its byte layout is fixed (so every node agrees) and it chains.</summary>
public class PrefixBlockHashTests
{
    /// <summary>The documented layout: XxHash3 over parent (u64 LE), model (u64 LE), then each token (i32 LE).</summary>
    static ulong ByLayout(ulong parent, int[] tokens, ulong model)
    {
        var bytes = new byte[16 + 4 * tokens.Length];
        BitConverter.TryWriteBytes(bytes.AsSpan(0, 8), parent);
        BitConverter.TryWriteBytes(bytes.AsSpan(8, 8), model);
        for (int i = 0; i < tokens.Length; i++) BitConverter.TryWriteBytes(bytes.AsSpan(16 + 4 * i, 4), tokens[i]);
        return XxHash3.HashToUInt64(bytes);
    }

    [Fact]
    public void OneBlockHashesItsParentModelAndTokensInTheFixedLayout() =>
        Gen.Select(Gen.ULong, Gen.Int[0, 50_000].Array[1, 32], Gen.ULong).Sample((parent, tokens, model) =>
            Assert.Equal(ByLayout(parent, tokens, model), PrefixBlockHash.Of(parent, tokens, model)));

    [Fact]
    public void ChainHashesEachFullBlockOnItsPredecessor() =>
        Gen.Select(Gen.Int[0, 50_000].Array[0, 70], Gen.Int[1, 16]).Sample((tokens, blockSize) =>
        {
            ulong model = PrefixBlockHash.Model("m.gguf", 1234);
            ulong[] chain = PrefixBlockHash.Chain(tokens, blockSize, model);
            Assert.Equal(tokens.Length / blockSize, chain.Length);
            ulong parent = PrefixBlockHash.Root;
            for (int b = 0; b < chain.Length; b++)
                Assert.Equal(parent = ByLayout(parent, tokens[(b * blockSize)..((b + 1) * blockSize)], model), chain[b]);
        });

    [Fact]
    public void SameTokensUnderAnotherPrefixOrModelHashDifferently()
    {
        int[] block = [5, 6, 7, 8];
        ulong model = PrefixBlockHash.Model("a.gguf", 10);
        Assert.NotEqual(PrefixBlockHash.Of(PrefixBlockHash.Root, block, model), PrefixBlockHash.Of(1, block, model));
        Assert.NotEqual(PrefixBlockHash.Of(0, block, model), PrefixBlockHash.Of(0, block, PrefixBlockHash.Model("a.gguf", 11)));
        Assert.Equal(model, PrefixBlockHash.Model("/other/dir/a.gguf", 10));
    }

    sealed class HeldSet(int blockSize, ulong model, IEnumerable<ulong> held) : IPrefixCacheView
    {
        readonly HashSet<ulong> set = [.. held];
        public int BlockSize => blockSize;
        public ulong ModelHash => model;
        public int CachedBlocks => set.Count;
        public bool Contains(ulong blockHash) => set.Contains(blockHash);
        public IReadOnlyCollection<ulong> BlockHashes() => [.. set];
    }

    [Fact]
    public void CachedPrefixStopsAtTheFirstBlockNotHeld()
    {
        ulong model = PrefixBlockHash.Model("m");
        int[] prompt = [.. Enumerable.Range(100, 14)];
        ulong[] chain = PrefixBlockHash.Chain(prompt, 4, model); // three full blocks
        IPrefixCacheView view = new HeldSet(4, model, [chain[0], chain[2]]);
        Assert.Equal(4, view.CachedPrefix(prompt)); // block 2 is held but its parent block 1 is not
        view = new HeldSet(4, model, chain);
        Assert.Equal(12, view.CachedPrefix(prompt));
        view = new HeldSet(4, PrefixBlockHash.Model("other"), chain);
        Assert.Equal(0, view.CachedPrefix(prompt)); // another model's blocks never match
    }
}
