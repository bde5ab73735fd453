using System.Buffers.Binary;
using System.Text;
using Augur.Chat;
using Augur.Generation;
using Augur.Model;
using Augur.Tests.Support;

namespace Augur.Tests.Gguf;

/// <summary>
/// Mutants of stories260K.gguf — byte flips in the header, truncations, corrupted header counts, metadata and
/// tensor-info fields, tensor names full of terminal escapes — loaded and run as the CLI would. Each outcome must
/// be success or an <see cref="AugurException"/> whose message is one line, escaped and bounded: a model file
/// must not be able to crash the loader with another exception type, nor write to the user's terminal.
/// </summary>
public sealed class GgufFuzzTests : IDisposable
{
    const int Seed = 20261204;
    const int Mutants = 300;
    const int MaxMessage = 400;

    readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Every_mutant_loads_or_fails_with_one_escaped_bounded_line()
    {
        byte[] original = File.ReadAllBytes(Reference.Stories260KGguf);
        var layout = new GgufLayout(original);
        var random = new Random(Seed);
        int failures = 0;
        for (int m = 0; m < Mutants; m++)
        {
            byte[] bytes = (byte[])original.Clone();
            string kind = Mutate(bytes, layout, random, out bytes);
            string path = _dir.Write($"mutant{m}.gguf", bytes);
            string? message = Outcome(path, $"mutant {m} ({kind}, seed {Seed})");
            if (message is null) continue;
            failures++;
            AssertClean(message, $"mutant {m} ({kind}, seed {Seed})");
            File.Delete(path);
        }
        // Most mutants hit the header, where nearly every change must be refused.
        Assert.InRange(failures, Mutants / 3, Mutants);
    }

    [Fact]
    public void A_tensor_name_of_escape_sequences_is_quoted_escaped_and_cut()
    {
        // The attack from the review: a long tensor name of ANSI sequences and newlines, with a bad type so the
        // loader quotes the name.
        byte[] original = File.ReadAllBytes(Reference.Stories260KGguf);
        var layout = new GgufLayout(original);
        var victim = layout.Tensors[0];
        string hostile = string.Concat(Enumerable.Repeat("\u001b[2J\u001b[31mpwned\n\r\u0007", 4000));
        byte[] name = Encoding.UTF8.GetBytes(hostile);
        int oldLength = Encoding.UTF8.GetByteCount(victim.Name);
        var bytes = new List<byte>(original.Length + name.Length);
        bytes.AddRange(original.AsSpan(0, (int)victim.NameOffset).ToArray());
        var length = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)name.Length);
        bytes.AddRange(length);
        bytes.AddRange(name);
        int typeAt = bytes.Count + (int)(victim.TypeOffset - victim.NameOffset - 8 - oldLength);
        bytes.AddRange(original.AsSpan((int)victim.NameOffset + 8 + oldLength).ToArray());
        byte[] file = bytes.ToArray();
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(typeAt), 77);
        string path = _dir.Write("hostile.gguf", file);

        var e = Assert.Throws<ModelFormatException>(() => LoadedModel.Open(path).Dispose());
        AssertClean(e.Message, "hostile name");
        Assert.Contains(@"\x1b[2J\x1b[31mpwned\n\r\x07", e.Message);
        Assert.Contains($"({hostile.Length:N0} chars)", e.Message);
        Assert.Contains("unknown tensor type 77", e.Message);
    }

    static void AssertClean(string message, string what)
    {
        Assert.True(message.Length <= MaxMessage, $"{what}: message of {message.Length} chars: {message[..Math.Min(200, message.Length)]}…");
        foreach (char c in message)
            Assert.False(char.IsControl(c), $"{what}: message holds control character U+{(int)c:X4}: {message}");
    }

    /// <summary>Null when the file loaded and generated; else the message of the Augur error it raised.</summary>
    static string? Outcome(string path, string what)
    {
        try
        {
            using var loaded = LoadedModel.Open(path);
            var chat = ChatPrompt.ForModel(loaded);
            var generator = new Generator(loaded.Model, loaded.Tokenizer, contextLength: 16);
            generator.Generate(new GenerationRequest { PromptIds = chat.Encode([new ChatTurn("user", "Once upon a time")])[..4], MaxTokens = 2 });
            return null;
        }
        catch (AugurException e)
        {
            return e.Message;
        }
        catch (Exception e)
        {
            Assert.Fail($"{what}: {e.GetType().Name} escaped: {e}");
            return null;
        }
    }

    static readonly ulong[] Interesting = [0, 1, 2, 3, 7, 8, 255, 256, 65535, 1UL << 31, (1UL << 32) - 1, 1UL << 32, 1UL << 62, ulong.MaxValue, ulong.MaxValue - 7];

    static ulong Pick(Random random) => random.Next(3) == 0 ? (ulong)random.NextInt64() : Interesting[random.Next(Interesting.Length)];

    static string Mutate(byte[] bytes, GgufLayout layout, Random random, out byte[] result)
    {
        result = bytes;
        switch (random.Next(6))
        {
            case 0:
            {
                int flips = 1 + random.Next(8);
                for (int i = 0; i < flips; i++) bytes[random.NextInt64(layout.InfosEnd)] ^= (byte)(1 + random.Next(255));
                return $"{flips} byte flips";
            }
            case 1:
            {
                int length = random.Next(2) == 0 ? random.Next((int)layout.InfosEnd + 64) : random.Next(bytes.Length);
                result = bytes[..length];
                return $"truncated to {length}";
            }
            case 2:
            {
                int field = random.Next(3);
                int at = field == 0 ? 4 : field == 1 ? 8 : 16;
                if (field == 0) BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(at), (uint)Pick(random));
                else BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(at), Pick(random));
                return $"header field at {at}";
            }
            case 3:
            {
                var kv = layout.Kvs[random.Next(layout.Kvs.Count)];
                switch (random.Next(3))
                {
                    case 0: BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan((int)kv.KeyOffset), Pick(random)); return $"key length of {kv.Key}";
                    case 1: BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan((int)kv.TypeOffset), (uint)Pick(random)); return $"type of {kv.Key}";
                    default:
                        // A string's length, or an array's element type and count.
                        if (kv.Type == 9) BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan((int)kv.ValueOffset), (uint)random.Next(16));
                        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan((int)kv.ValueOffset + (kv.Type == 9 ? 4 : 0)), Pick(random));
                        return $"value of {kv.Key}";
                }
            }
            case 4:
            {
                var t = layout.Tensors[random.Next(layout.Tensors.Count)];
                switch (random.Next(4))
                {
                    case 0: BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan((int)t.NDimsOffset), (uint)Pick(random)); return $"n_dims of {t.Name}";
                    case 1: BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan((int)t.DimsOffset + 8 * random.Next(t.Dims.Length)), Pick(random)); return $"a dim of {t.Name}";
                    case 2: BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan((int)t.TypeOffset), (uint)random.Next(64)); return $"type of {t.Name}";
                    default: BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan((int)t.OffsetOffset), Pick(random)); return $"offset of {t.Name}";
                }
            }
            default:
            {
                // Control bytes (and invalid UTF-8) in place of a tensor name or key, then a bad type so it is quoted.
                bool tensor = random.Next(2) == 0;
                long nameAt = tensor ? layout.Tensors[random.Next(layout.Tensors.Count)].NameOffset : layout.Kvs[random.Next(layout.Kvs.Count)].KeyOffset;
                int length = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan((int)nameAt));
                for (int i = 0; i < length; i++) bytes[nameAt + 8 + i] = random.Next(3) == 0 ? (byte)random.Next(256) : (byte)random.Next(32);
                if (random.Next(2) == 0)
                {
                    long typeAt = tensor ? nameAt + 8 + length + 4 + 8 * layout.Tensors.First(t => t.NameOffset == nameAt).Dims.Length : nameAt + 8 + length;
                    BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan((int)typeAt), 99);
                }
                return tensor ? "hostile tensor name" : "hostile key";
            }
        }
    }
}
