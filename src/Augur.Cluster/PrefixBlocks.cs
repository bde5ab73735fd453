using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Augur.Cluster;

/// <summary>
/// vLLM's prefix-block identity: a full block of <see cref="BlockSize"/> tokens is named by the hash of its
/// parent block's hash and its own tokens, so equal hashes mean equal prefixes up to and including that block.
/// Stable across processes (SHA-256, not <see cref="HashCode"/>), because nodes and the gateway compare them.
/// </summary>
public static class PrefixBlocks
{
    public const int BlockSize = 16;

    /// <summary>The hashes of the prompt's full blocks, first block first.</summary>
    public static ulong[] Hashes(ReadOnlySpan<int> tokens, int blockSize = BlockSize)
    {
        var hashes = new ulong[tokens.Length / blockSize];
        Span<byte> input = stackalloc byte[8 + blockSize * 4];
        Span<byte> digest = stackalloc byte[32];
        ulong parent = 0;
        for (int b = 0; b < hashes.Length; b++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(input, parent);
            MemoryMarshal.AsBytes(tokens.Slice(b * blockSize, blockSize)).CopyTo(input[8..]);
            SHA256.HashData(input, digest);
            hashes[b] = parent = BinaryPrimitives.ReadUInt64LittleEndian(digest);
        }
        return hashes;
    }

    /// <summary>How many leading blocks of <paramref name="hashes"/> a node holding <paramref name="held"/> has.</summary>
    public static int Matched(ReadOnlySpan<ulong> hashes, IReadOnlySet<ulong> held)
    {
        int n = 0;
        while (n < hashes.Length && held.Contains(hashes[n])) n++;
        return n;
    }
}
