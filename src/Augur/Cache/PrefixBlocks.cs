using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;

namespace Augur.Cache;

/// <summary>
/// The identity of a full block of cached cells, as in vLLM's automatic prefix caching: hash(parent block's hash,
/// the block's tokens, the model). Two caches holding a block with the same hash hold the same keys and values, so
/// a router can send a request where its prefix already is (issue 17) and a cache can share the block between
/// sequences. XxHash3 (System.IO.Hashing): fast, stable across processes and machines, 64 bits (a collision
/// among a cache's blocks is a 2⁻⁶⁴-per-pair event, the trade vLLM makes too with its default hash).
/// </summary>
public static class PrefixBlockHash
{
    /// <summary>The parent hash of a sequence's first block.</summary>
    public const ulong Root = 0;

    /// <summary>A model's part of every block hash: the same for the same weights on every node (file name and size
    /// by <see cref="Model(string, long)"/>), different between models, so one pool never mixes them up.</summary>
    public static ulong Model(string identity) => XxHash3.HashToUInt64(System.Text.Encoding.UTF8.GetBytes(identity));

    /// <summary>The model part for a file: its name and length (a copy of the file on another node agrees).</summary>
    public static ulong Model(string fileName, long length) => Model($"{Path.GetFileName(fileName)}\0{length}");

    /// <summary>The model part for the file at <paramref name="path"/> (0 length when it is not a file here).</summary>
    public static ulong ModelFile(string path) => Model(path, File.Exists(path) ? new FileInfo(path).Length : 0);

    /// <summary>hash(parent, tokens, model) of one full block.</summary>
    public static ulong Of(ulong parent, ReadOnlySpan<int> tokens, ulong model)
    {
        var hash = new XxHash3();
        Span<byte> head = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(head, parent);
        BinaryPrimitives.WriteUInt64LittleEndian(head[8..], model);
        hash.Append(head);
        if (BitConverter.IsLittleEndian) hash.Append(MemoryMarshal.AsBytes(tokens));
        else
        {
            Span<byte> token = stackalloc byte[4];
            foreach (int t in tokens)
            {
                BinaryPrimitives.WriteInt32LittleEndian(token, t);
                hash.Append(token);
            }
        }
        return hash.GetCurrentHashAsUInt64();
    }

    /// <summary>The hashes of every full block of <paramref name="tokens"/>, first block first (a partial last block has none).</summary>
    public static ulong[] Chain(ReadOnlySpan<int> tokens, int blockSize, ulong model)
    {
        if (blockSize < 1) throw new ArgumentOutOfRangeException(nameof(blockSize), blockSize, "block size must be ≥ 1");
        var hashes = new ulong[tokens.Length / blockSize];
        ulong parent = Root;
        for (int b = 0; b < hashes.Length; b++) parent = hashes[b] = Of(parent, tokens.Slice(b * blockSize, blockSize), model);
        return hashes;
    }
}

/// <summary>
/// What a prefix cache holds, read-only: which full blocks (by <see cref="PrefixBlockHash"/>) it could hand to a new
/// request without computing them. A router asks a node's view how long a prompt's cached prefix is there.
/// Safe to read from any thread.
/// </summary>
public interface IPrefixCacheView
{
    /// <summary>Cells per block: prompts are hashed in blocks of this many tokens.</summary>
    int BlockSize { get; }

    /// <summary>The model part of the hashes (<see cref="PrefixBlockHash.Model(string)"/>).</summary>
    ulong ModelHash { get; }

    /// <summary>Full blocks held (in use or cached for reuse).</summary>
    int CachedBlocks { get; }

    bool Contains(ulong blockHash);

    /// <summary>A snapshot of the hashes of every full block held.</summary>
    IReadOnlyCollection<ulong> BlockHashes();

    /// <summary>Leading tokens of <paramref name="prompt"/> whose blocks are held: a multiple of <see cref="BlockSize"/>.</summary>
    int CachedPrefix(ReadOnlySpan<int> prompt)
    {
        ulong parent = PrefixBlockHash.Root;
        int blocks = 0;
        for (int b = 0; (b + 1) * BlockSize <= prompt.Length; b++)
        {
            parent = PrefixBlockHash.Of(parent, prompt.Slice(b * BlockSize, BlockSize), ModelHash);
            if (!Contains(parent)) break;
            blocks++;
        }
        return blocks * BlockSize;
    }
}
