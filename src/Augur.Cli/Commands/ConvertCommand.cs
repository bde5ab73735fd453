using Augur.Model;
using Augur.Conversion;
using System.CommandLine;
using Augur.Tokenizers;

namespace Augur.Cli.Commands;

/// <summary><c>augur convert</c>: a llama2.c checkpoint, or Hugging Face tokenizer files, to GGUF.</summary>
static class ConvertCommand
{
    public static Command Create()
    {
        var from = new Option<string>("--from") { Description = "source format: llama2c (a checkpoint) or hf-tokenizer (a folder with tokenizer.json)", Required = true };
        var input = new Argument<string>("input") { Description = "the checkpoint, or the tokenizer folder (or its tokenizer.json)" };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "llama2c: the checkpoint's tokenizer (.model or tokenizer.bin)" };
        var output = new Option<string>("--out", "-o") { Description = "the GGUF file to write", Required = true };
        var cmd = new Command("convert", "convert a llama2.c checkpoint, or Hugging Face tokenizer files (vocabulary-only), to GGUF") { from, input, tokenizer, output };
        cmd.SetAction(r => CliErrors.Run(() =>
        {
            string path = r.GetValue(input)!, outPath = r.GetValue(output)!;
            switch (r.GetValue(from))
            {
                case "llama2c":
                {
                    string tok = r.GetValue(tokenizer) ?? throw new InvalidRequestException("--from llama2c needs --tokenizer PATH");
                    using var ckpt = Llama2cCheckpoint.Open(path);
                    var vocab = Vocabulary.FromFile(tok, ckpt.Config.VocabSize);
                    Llama2cConverter.Convert(ckpt, vocab, outPath);
                    break;
                }
                case "hf-tokenizer":
                {
                    var hf = HfTokenizerImport.Read(path);
                    TokenizerFactory.Create(hf.Vocabulary); // the vocabulary must tokenize before it is written
                    string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Directory.Exists(path) ? Path.GetFullPath(path) : Path.GetDirectoryName(Path.GetFullPath(path))!));
                    HfTokenizerImport.WriteGguf(hf, outPath, name);
                    var v = hf.Vocabulary;
                    Console.WriteLine($"wrote {outPath}: {v.Model}{(v.Pre is null ? "" : $" ({v.Pre})")}, {v.Count} tokens, {v.Merges.Length} merges");
                    return 0;
                }
                default:
                    throw new InvalidRequestException($"--from {r.GetValue(from)} is not supported (supported: llama2c, hf-tokenizer)");
            }
            Console.WriteLine($"wrote {outPath}");
            return 0;
        }));
        return cmd;
    }
}
