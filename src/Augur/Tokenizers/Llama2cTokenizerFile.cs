using System.Text;

namespace Augur.Tokenizers;

/// <summary>
/// Reads llama2.c's <c>tokenizer.bin</c> (uint32 max length, then per token: float32 score, uint32 length,
/// bytes) back into SentencePiece form: spaces become U+2581, <c>"\n&lt;s&gt;\n"</c> becomes <c>&lt;s&gt;</c>,
/// <c>&lt;0xNN&gt;</c> pieces are byte tokens.
/// </summary>
static class Llama2cTokenizerFile
{
    public static Vocabulary Read(string path, byte[] data, int vocabSize)
    {
        var tokens = new string[vocabSize];
        var scores = new float[vocabSize];
        var types = new TokenType[vocabSize];
        int pos = 4;
        for (int i = 0; i < vocabSize; i++)
        {
            if (pos + 8 > data.Length) throw new ModelFormatException($"{path}: ends after {i} of {vocabSize} tokens (truncated, or not a tokenizer.bin for this model)");
            scores[i] = BitConverter.ToSingle(data, pos);
            int len = BitConverter.ToInt32(data, pos + 4);
            pos += 8;
            if (len < 0 || len > data.Length - pos) throw new ModelFormatException($"{path}: token {i} length {len} runs past the end of the file");
            string text = Encoding.UTF8.GetString(data, pos, len);
            pos += len;
            (tokens[i], types[i]) = text switch
            {
                "\n<s>\n" => ("<s>", TokenType.Control),
                "\n</s>\n" => ("</s>", TokenType.Control),
                "<unk>" => ("<unk>", TokenType.Unknown),
                _ when text.Length == 6 && text.StartsWith("<0x") && text.EndsWith('>') => (text, TokenType.Byte),
                _ => (text.Replace(' ', '\u2581'), TokenType.Normal),
            };
        }
        return new Vocabulary(tokens, scores, types, BosId: 1, EosId: 2, UnknownId: 0, AddBos: true, AddEos: false, AddSpacePrefix: true);
    }
}
