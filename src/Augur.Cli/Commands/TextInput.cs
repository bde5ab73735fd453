using System.Text;

namespace Augur.Cli.Commands;

/// <summary>Text the CLI reads (a chat's messages, perplexity's file) as strict UTF-8: invalid bytes, overlong forms
/// and encoded surrogates are refused in one line naming the input, instead of turning into U+FFFD silently.</summary>
static class TextInput
{
    static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static string ReadFile(string path)
    {
        if (!File.Exists(path)) throw new AssetNotFoundException(path, "text file");
        byte[] bytes = File.ReadAllBytes(path);
        try
        {
            int skip = bytes.AsSpan().StartsWith("\uFEFF"u8) ? 3 : 0; // a byte-order mark is not text
            return Strict.GetString(bytes, skip, bytes.Length - skip);
        }
        catch (DecoderFallbackException e)
        {
            throw new InvalidRequestException($"{path}: not valid UTF-8 text (byte {e.Index} of {bytes.Length:N0} is not part of a valid character)");
        }
    }

    /// <summary>Standard input, line by line, with the same rule.</summary>
    public static TextReader StandardInput() => new StrictLines(new StreamReader(Console.OpenStandardInput(), Strict));

    sealed class StrictLines(TextReader inner) : TextReader
    {
        public override string? ReadLine()
        {
            try
            {
                return inner.ReadLine();
            }
            catch (DecoderFallbackException)
            {
                throw new InvalidRequestException("standard input is not valid UTF-8 text");
            }
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
