using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Augur.Cluster;

/// <summary>
/// vLLM's prefix-block identity: a full block of tokens is named by the hash of its parent block's hash, the model
/// and its own tokens, so equal hashes mean equal prefixes of the same model up to and including that block. Stable
/// across processes (SHA-256, not <see cref="HashCode"/>), because nodes and the gateway compare them. The paged
/// cache of issue 13 brings its own block hash; this one stands in until then (same inputs, same use).
/// </summary>
public static class PrefixBlocks
{
    /// <summary>Tokens per block of today's nodes.</summary>
    public const int BlockSize = 16;

    /// <summary>The hashes of the prompt's full blocks, first block first (a partial last block has none).</summary>
    public static ulong[] Hashes(ReadOnlySpan<int> tokens, int blockSize = BlockSize, ulong model = 0)
    {
        var hashes = new ulong[tokens.Length / blockSize];
        Span<byte> input = stackalloc byte[16 + blockSize * 4];
        Span<byte> digest = stackalloc byte[32];
        ulong parent = 0;
        for (int b = 0; b < hashes.Length; b++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(input, parent);
            BinaryPrimitives.WriteUInt64LittleEndian(input[8..], model);
            MemoryMarshal.AsBytes(tokens.Slice(b * blockSize, blockSize)).CopyTo(input[16..]); // little-endian hosts
            SHA256.HashData(input, digest);
            hashes[b] = parent = BinaryPrimitives.ReadUInt64LittleEndian(digest);
        }
        return hashes;
    }
}
