using Augur.Model;
using Augur.Conversion;
using System.CommandLine;
using Augur.Tokenizers;

namespace Augur.Cli.Commands;

static class ConvertCommand
{
    public static Command Create()
    {
        var from = new Option<string>("--from") { Description = "source format (llama2c)", Required = true };
        var input = new Argument<string>("model") { Description = "the checkpoint to convert" };
        var tokenizer = new Option<string>("--tokenizer") { Description = "its tokenizer (.model or tokenizer.bin)", Required = true };
        var output = new Option<string>("--out", "-o") { Description = "the GGUF file to write", Required = true };
        var cmd = new Command("convert", "convert a llama2.c checkpoint to GGUF") { from, input, tokenizer, output };
        cmd.SetAction(r => CliErrors.Run(() =>
        {
            if (r.GetValue(from) != "llama2c") throw new InvalidRequestException($"--from {r.GetValue(from)} is not supported (supported: llama2c)");
            using var ckpt = Llama2cCheckpoint.Open(r.GetValue(input)!);
            var vocab = Vocabulary.FromFile(r.GetValue(tokenizer)!, ckpt.Config.VocabSize);
            Llama2cConverter.Convert(ckpt, vocab, r.GetValue(output)!);
            Console.WriteLine($"wrote {r.GetValue(output)}");
            return 0;
        }));
        return cmd;
    }
}
