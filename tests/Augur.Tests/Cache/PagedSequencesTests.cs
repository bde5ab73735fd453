using System.Runtime.InteropServices;
using Augur.Cache;
using CsCheck;

namespace Augur.Tests.Cache;

/// <summary>
/// The paged cache's block tables against a plain model (a token list per sequence): each cell's keys and values
/// encode (layer, position, token), so a block written by two sequences, or reused after eviction while in use,
/// shows up as a cell that reads back wrong.
/// </summary>
public class PagedSequencesTests
{
    const int Layers = 2, RowBytes = 8, BlockSize = 4, Sequences = 4;

    static (int, int) KeyOf(int layer, int position, int token) => (layer * 1_000_000 + position, token);
    static (int, int) ValueOf(int layer, int position, int token) => (~token, layer * 1_000_000 + position);

    static void Write(PagedSequences cache, int seq, int start, ReadOnlySpan<int> tokens)
    {
        for (int l = 0; l < Layers; l++)
            for (int i = 0; i < tokens.Length; i++)
            {
                var (k0, k1) = KeyOf(l, start + i, tokens[i]);
                var (v0, v1) = ValueOf(l, start + i, tokens[i]);
                var key = MemoryMarshal.Cast<byte, int>(cache.KeyRow(l, seq, start + i));
                var value = MemoryMarshal.Cast<byte, int>(cache.ValueRow(l, seq, start + i));
                (key[0], key[1], value[0], value[1]) = (k0, k1, v0, v1);
            }
    }

    static void AssertHolds(PagedSequences cache, List<int>[] expected)
    {
        var holders = new Dictionary<int, int>();
        for (int s = 0; s < Sequences; s++)
        {
            Assert.Equal(expected[s].Count, cache.Length(s));
            Assert.Equal((expected[s].Count + BlockSize - 1) / BlockSize, cache.Blocks(s).Count);
            foreach (int b in cache.Blocks(s)) holders[b] = holders.GetValueOrDefault(b) + 1;
            for (int l = 0; l < Layers; l++)
                for (int c = 0; c < expected[s].Count; c++)
                {
                    var key = MemoryMarshal.Cast<byte, int>(cache.KeyRow(l, s, c));
                    var value = MemoryMarshal.Cast<byte, int>(cache.ValueRow(l, s, c));
                    Assert.Equal(KeyOf(l, c, expected[s][c]), (key[0], key[1]));
                    Assert.Equal(ValueOf(l, c, expected[s][c]), (value[0], value[1]));
                }
        }
        var pool = cache.Pool;
        for (int b = 0; b < pool.Blocks; b++) Assert.Equal(holders.GetValueOrDefault(b), pool.References(b));
        Assert.Equal(holders.Count, pool.InUse);
        Assert.Equal(pool.Blocks - holders.Count, pool.Available);
    }

    // Prompts draw from two shared openings so that prefix hits happen often.
    static readonly int[][] Openings = [[1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 9, 9, 9, 9]];

    enum Op { Admit, Append, Fork, Trim, Finish, Evict }

    [Fact]
    public void RandomAdmitForkAppendTrimFinishEvictKeepsEveryCellAndCountsEveryReference() =>
        Gen.Select(Gen.Enum<Op>(), Gen.Int[0, Sequences - 1], Gen.Int[0, Sequences - 1], Gen.Int[0, 3].Array[0, 9], Gen.Int[0, 1], Gen.Int[0, 1_000])
            .Array[1, 60]
            .Sample(ops =>
            {
                var cache = new PagedSequences(new BlockPool(Layers, RowBytes, BlockSize, blocks: 24, PrefixBlockHash.Model("test")), Sequences);
                var expected = Enumerable.Range(0, Sequences).Select(_ => new List<int>()).ToArray();
                foreach (var (op, s, other, tokens, opening, cut) in ops)
                {
                    switch (op)
                    {
                        case Op.Admit when expected[s].Count == 0:
                            int[] prompt = [.. Openings[opening], .. tokens];
                            try
                            {
                                int cached = cache.Admit(s, prompt);
                                Assert.Equal(0, cached % BlockSize);
                                Assert.True(cached < prompt.Length);
                                expected[s].AddRange(prompt[..cached]);
                                Write(cache, s, cache.Append(s, prompt.AsSpan(cached)), prompt.AsSpan(cached));
                                expected[s].AddRange(prompt[cached..]);
                            }
                            catch (InvalidRequestException e) when (e.Message.StartsWith("KV pool exhausted")) { } // the taken prefix stays
                            break;
                        case Op.Append:
                            try
                            {
                                Write(cache, s, cache.Append(s, tokens), tokens);
                                expected[s].AddRange(tokens);
                            }
                            catch (InvalidRequestException e) when (e.Message.StartsWith("KV pool exhausted")) { }
                            break;
                        case Op.Fork when expected[other].Count == 0 && other != s:
                            cache.Fork(s, other);
                            expected[other].AddRange(expected[s]);
                            break;
                        case Op.Trim:
                            int length = cut % (expected[s].Count + 1);
                            cache.Trim(s, length);
                            expected[s].RemoveRange(length, expected[s].Count - length);
                            break;
                        case Op.Finish:
                            cache.Clear(s);
                            expected[s].Clear();
                            break;
                        case Op.Evict:
                            cache.Pool.EvictUnreferenced();
                            break;
                    }
                    AssertHolds(cache, expected);
                }
                for (int s = 0; s < Sequences; s++) cache.Clear(s);
                Assert.Equal(0, cache.Pool.InUse);
                cache.Pool.EvictUnreferenced();
                Assert.Equal(cache.Pool.Blocks, cache.Pool.Available);
                Assert.Equal(0, cache.Pool.CachedBlocks);
            });

    [Fact]
    public void APromptAfterAFinishedOneTakesItsFullBlocksAndComputesOnlyTheRest()
    {
        var cache = new PagedSequences(new BlockPool(Layers, RowBytes, BlockSize, blocks: 8, PrefixBlockHash.Model("test")), Sequences);
        int[] first = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19];
        Write(cache, 0, cache.Append(0, first), first);
        cache.Clear(0);
        Assert.Equal(2, cache.Pool.CachedBlocks);
        Assert.True(((IPrefixCacheView)cache.Pool).CachedPrefix(first) == 8);

        int[] second = [10, 11, 12, 13, 14, 15, 16, 17, 99];
        Assert.Equal(8, cache.Admit(1, second));
        Write(cache, 1, cache.Append(1, second.AsSpan(8)), second.AsSpan(8));
        var expected = Enumerable.Range(0, Sequences).Select(_ => new List<int>()).ToArray();
        expected[1].AddRange(second);
        AssertHolds(cache, expected);

        // The same eight tokens as the whole prompt: the last block is recomputed, so one token is left to run.
        Assert.Equal(4, cache.Admit(2, second.AsSpan(0, 8)));
    }

    static List<int>[] Expect(params (int Seq, int[] Tokens)[] held)
    {
        var expected = Enumerable.Range(0, Sequences).Select(_ => new List<int>()).ToArray();
        foreach (var (seq, tokens) in held) expected[seq].AddRange(tokens);
        return expected;
    }

    [Fact]
    public void AForkAndItsSourceWritingTheirSharedPartialBlockEachGetTheirOwnCopy()
    {
        var cache = new PagedSequences(new BlockPool(Layers, RowBytes, BlockSize, blocks: 8, PrefixBlockHash.Model("test")), Sequences);
        int[] start = [1, 2, 3, 4, 5, 6];
        Write(cache, 0, cache.Append(0, start), start);
        cache.Fork(0, 1);
        Write(cache, 1, cache.Append(1, [70]), [70]);
        Write(cache, 0, cache.Append(0, [80]), [80]);
        AssertHolds(cache, Expect((0, [.. start, 80]), (1, [.. start, 70])));
        Assert.Equal(cache.Blocks(0)[0], cache.Blocks(1)[0]); // the full first block stays shared
    }

    [Fact]
    public void RewritingATrimmedRegisteredBlockLeavesTheCachedOneIntact()
    {
        var cache = new PagedSequences(new BlockPool(Layers, RowBytes, BlockSize, blocks: 8, PrefixBlockHash.Model("test")), Sequences);
        int[] first = [1, 2, 3, 4, 5];
        Write(cache, 0, cache.Append(0, first), first);
        cache.Trim(0, 2);
        Write(cache, 0, cache.Append(0, [60, 61]), [60, 61]);
        cache.Clear(0);
        Assert.Equal(4, cache.Admit(1, first));
        Write(cache, 1, cache.Append(1, first.AsSpan(4)), first.AsSpan(4));
        AssertHolds(cache, Expect((1, first)));
    }

    [Fact]
    public void SixteenSequencesSharingA1500TokenPrefixHoldAtMostAnEighthOfTheDenseBytes()
    {
        const int block = 16, context = 2048, sequences = 16;
        var pool = new BlockPool(Layers, RowBytes, block, blocks: sequences * context / block, PrefixBlockHash.Model("test"));
        var cache = new PagedSequences(pool, sequences);
        int[] prefix = [.. Enumerable.Range(0, 1500).Select(i => i % 500)];
        for (int s = 0; s < sequences; s++)
        {
            int[] prompt = [.. prefix, .. Enumerable.Range(1000 + 40 * s, 40)];
            int cached = cache.Admit(s, prompt);
            Assert.Equal(s == 0 ? 0 : 1500 / block * block, cached);
            cache.Append(s, prompt.AsSpan(cached));
        }
        long held = (long)pool.InUse * block * RowBytes * Layers * 2;
        long dense = new KvCache(Layers, RowBytes / 4, context, sequences).ByteSize;
        Assert.True(held * 8 <= dense, $"paged holds {held} bytes, dense {dense}");
    }
}
