using Augur.Cache;

namespace Augur.Tests.Cache;

/// <summary>The dense cache's sequence operations, on cells whose contents encode (layer, sequence, cell).</summary>
public class KvCacheTests
{
    const int Layers = 2, KvDim = 3, Capacity = 8;

    // The cache stores bytes; these tests use the F32 layout.
    static Span<float> Floats(Span<byte> bytes) => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes);

    static float Key(int layer, int seq, int cell, int d) => 1000 * layer + 100 * seq + 10 * cell + d;
    static float Value(int layer, int seq, int cell, int d) => -Key(layer, seq, cell, d) - 0.5f;

    /// <summary>A cache with <paramref name="lengths"/>[s] cells filled in sequence s.</summary>
    static KvCache Filled(params int[] lengths)
    {
        var cache = new KvCache(Layers, KvDim, Capacity, lengths.Length);
        for (int s = 0; s < lengths.Length; s++)
        {
            Assert.Equal(0, cache.Append(s, lengths[s]));
            for (int l = 0; l < Layers; l++)
                for (int c = 0; c < lengths[s]; c++)
                    for (int d = 0; d < KvDim; d++)
                    {
                        Floats(cache.Keys(l, s))[c * KvDim + d] = Key(l, s, c, d);
                        Floats(cache.Values(l, s))[c * KvDim + d] = Value(l, s, c, d);
                    }
        }
        return cache;
    }

    /// <summary>Asserts sequence <paramref name="seq"/> holds, in order, the cells <paramref name="origin"/> lists as (sequence, cell).</summary>
    static void AssertCells(KvCache cache, int seq, params (int Seq, int Cell)[] origin)
    {
        Assert.Equal(origin.Length, cache.Length(seq));
        for (int l = 0; l < Layers; l++)
            for (int c = 0; c < origin.Length; c++)
                for (int d = 0; d < KvDim; d++)
                {
                    Assert.Equal(Key(l, origin[c].Seq, origin[c].Cell, d), Floats(cache.Keys(l, seq))[c * KvDim + d]);
                    Assert.Equal(Value(l, origin[c].Seq, origin[c].Cell, d), Floats(cache.Values(l, seq))[c * KvDim + d]);
                }
    }

    static (int, int)[] Cells(int seq, params int[] cells) => cells.Select(c => (seq, c)).ToArray();

    [Fact]
    public void Append_hands_out_consecutive_cells_and_refuses_past_capacity()
    {
        var cache = new KvCache(Layers, KvDim, Capacity, 2);
        Assert.Equal(0, cache.Append(1, 3));
        Assert.Equal(3, cache.Append(1, 5));
        Assert.Equal(0, cache.Length(0));
        var e = Assert.Throws<InvalidRequestException>(() => cache.Append(1, 1));
        Assert.Contains("context full", e.Message);
        Assert.Equal(8, cache.Length(1));
    }

    [Fact]
    public void Trim_drops_the_tail_of_one_sequence_only()
    {
        var cache = Filled(6, 5);
        cache.Trim(0, 2);
        AssertCells(cache, 0, Cells(0, 0, 1));
        AssertCells(cache, 1, Cells(1, 0, 1, 2, 3, 4));
        Assert.Equal(2, cache.Append(0, 1)); // the next token reuses cell 2
        cache.Trim(1, 5); // trimming to the current length changes nothing
        AssertCells(cache, 1, Cells(1, 0, 1, 2, 3, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => cache.Trim(1, 6));
        Assert.Throws<ArgumentOutOfRangeException>(() => cache.Trim(1, -1));
    }

    [Fact]
    public void Keep_moves_the_chosen_cells_down_to_start_and_drops_the_rest()
    {
        var cache = Filled(8);
        cache.Keep(0, 2, [3, 5, 7]); // a draft tree at cells 2..7; the accepted branch is cells 3, 5, 7
        AssertCells(cache, 0, Cells(0, 0, 1, 3, 5, 7));
        var same = Filled(5);
        same.Keep(0, 1, [1, 2]); // cells already in place
        AssertCells(same, 0, Cells(0, 0, 1, 2));
        var none = Filled(5);
        none.Keep(0, 3, []);
        AssertCells(none, 0, Cells(0, 0, 1, 2));
    }

    [Theory]
    [InlineData(2, new[] { 4, 3 })] // descending
    [InlineData(2, new[] { 1 })]    // before start
    [InlineData(2, new[] { 3, 8 })] // past the sequence
    [InlineData(2, new[] { 3, 3 })] // repeated
    [InlineData(9, new int[0])]     // start past the sequence: would grow it with stale cells
    // Checked before anything moves: a refused Keep leaves the cache as it was.
    public void An_invalid_Keep_is_refused_and_changes_nothing(int start, int[] cells)
    {
        var cache = Filled(8);
        Assert.ThrowsAny<ArgumentOutOfRangeException>(() => cache.Keep(0, start, cells));
        AssertCells(cache, 0, Cells(0, 0, 1, 2, 3, 4, 5, 6, 7));
    }

    [Fact]
    public void Copy_makes_the_destination_a_copy_of_the_sources_prefix()
    {
        var cache = Filled(6, 2, 0);
        cache.Copy(0, 1, 4);
        AssertCells(cache, 1, Cells(0, 0, 1, 2, 3));
        AssertCells(cache, 0, Cells(0, 0, 1, 2, 3, 4, 5));
        cache.Copy(0, 2, 0);
        Assert.Equal(0, cache.Length(2));
        cache.Copy(0, 0, 3); // onto itself: a trim
        AssertCells(cache, 0, Cells(0, 0, 1, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => cache.Copy(0, 1, 4));
    }

    [Fact]
    public void Clear_empties_one_sequence()
    {
        var cache = Filled(3, 3);
        cache.Clear(0);
        Assert.Equal(0, cache.Length(0));
        AssertCells(cache, 1, Cells(1, 0, 1, 2));
        Assert.Equal(0, cache.Append(0, 1));
    }

    [Fact]
    public void ByteSize_counts_keys_and_values_of_every_layer_and_sequence() =>
        Assert.Equal(2L * Layers * 3 * Capacity * KvDim * sizeof(float), new KvCache(Layers, KvDim, Capacity, 3).ByteSize);
}
