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

    /// <summary>After Keep moved cell <paramref name="from"/> to <paramref name="cell"/>: its rows must be the moved cell's
    /// (checked), then are rewritten for the new position, as a model's next step would see them.</summary>
    static void Rewrite(PagedSequences cache, int seq, int cell, int token, int from)
    {
        for (int l = 0; l < Layers; l++)
        {
            var key = MemoryMarshal.Cast<byte, int>(cache.KeyRow(l, seq, cell));
            Assert.Equal(KeyOf(l, from, token), (key[0], key[1]));
        }
        Write(cache, seq, cell, [token]);
    }

    static void AssertHolds(PagedSequences cache, List<int>[] expected)
    {
        var holders = new Dictionary<int, int>();
        for (int s = 0; s < Sequences; s++)
        {
            Assert.Equal(expected[s].Count, cache.Length(s));
            Assert.Equal((expected[s].Count + BlockSize - 1) / BlockSize, cache.Blocks(s).Length);
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

    enum Op { Admit, Append, Publish, Keep, Fork, Trim, Finish, Evict }

    [Fact]
    public void RandomAdmitAppendPublishKeepForkTrimFinishEvictKeepsEveryCellAndCountsEveryReference() =>
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
                            catch (KvPoolExhaustedException) { } // the taken prefix stays
                            break;
                        case Op.Append:
                            try
                            {
                                Write(cache, s, cache.Append(s, tokens), tokens);
                                expected[s].AddRange(tokens);
                            }
                            catch (KvPoolExhaustedException) { }
                            break;
                        case Op.Publish:
                            cache.Publish(s, cut % (expected[s].Count + 1));
                            break;
                        case Op.Keep when expected[s].Count > 0:
                            // Keep a random ascending subset of the cells from start on (an accepted draft branch).
                            int start = cut % expected[s].Count;
                            int[] kept = [.. Enumerable.Range(start, expected[s].Count - start).Where(c => (c * 7 + cut) % 3 != 0)];
                            try
                            {
                                cache.Keep(s, start, kept);
                                var moved = kept.Select(c => expected[s][c]).ToList();
                                expected[s].RemoveRange(start, expected[s].Count - start);
                                expected[s].AddRange(moved);
                                // Moved cells now hold their tokens at new positions: rewrite them as the model would.
                                var tail = expected[s].Skip(start).ToArray();
                                for (int i = 0; i < tail.Length; i++) Rewrite(cache, s, start + i, tail[i], kept[i]);
                            }
                            catch (KvPoolExhaustedException) { } // nothing changed
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
        Assert.Equal(0, cache.Pool.CachedBlocks); // nothing is shared before it is published
        cache.Publish(0, first.Length);
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
        cache.Publish(0, first.Length);
        cache.Trim(0, 2);
        Write(cache, 0, cache.Append(0, [60, 61]), [60, 61]);
        cache.Clear(0);
        Assert.Equal(4, cache.Admit(1, first));
        Write(cache, 1, cache.Append(1, first.AsSpan(4)), first.AsSpan(4));
        AssertHolds(cache, Expect((1, first)));
    }
}
