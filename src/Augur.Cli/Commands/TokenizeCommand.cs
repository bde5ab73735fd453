using System.CommandLine;
using System.Text;
using System.Text.Json;
using Augur.Gguf;
using Augur.Tokenizers;

namespace Augur.Cli.Commands;

/// <summary>
/// <c>augur tokenize</c>, like llama.cpp's <c>llama-tokenize</c>: the ids of a text under a model's vocabulary (only
/// the tokenizer is read, so a vocabulary-only GGUF does). <c>--jsonl</c> reads one JSON string per line from
/// standard input and writes one JSON array of ids per line.
/// </summary>
static class TokenizeCommand
{
    static readonly JsonSerializerOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "a GGUF file (a vocabulary-only one will do)", Required = true };
        var prompt = new Option<string?>("--prompt", "-p") { Description = "the text" };
        var file = new Option<string?>("--file", "-f") { Description = "read the text from this file" };
        var special = new Option<bool>("--special") { Description = "match control tokens written in the text (<|im_start|>, …)" };
        var noBos = new Option<bool>("--no-bos") { Description = "do not add the BOS/EOS the vocabulary asks for" };
        var json = new Option<bool>("--json") { Description = "print {\"ids\": [...], \"pieces\": [...]}" };
        var jsonl = new Option<bool>("--jsonl") { Description = "read one JSON string per line from standard input, write one JSON array of ids per line" };
        var cmd = new Command("tokenize", "print the token ids of a text") { model, prompt, file, special, noBos, json, jsonl };
        cmd.SetAction(r => CliErrors.Run(() =>
        {
            ITokenizer tokenizer;
            using (var gguf = GgufFile.Open(r.GetValue(model)!))
                tokenizer = TokenizerFactory.Create(Vocabulary.FromGguf(gguf));
            bool addBos = !r.GetValue(noBos), parseSpecial = r.GetValue(special);
            var stdout = Console.Out;
            if (r.GetValue(jsonl))
            {
                for (string? line; (line = Console.In.ReadLine()) is not null;)
                {
                    if (line.Length == 0) continue;
                    string text;
                    try { text = JsonSerializer.Deserialize<string>(line) ?? throw new InvalidRequestException("--jsonl: null is not a string"); }
                    catch (JsonException e) { throw new InvalidRequestException($"--jsonl: a line is not a JSON string ({e.Message})"); }
                    stdout.WriteLine(JsonSerializer.Serialize(tokenizer.Encode(text, addBos, parseSpecial)));
                }
                return 0;
            }
            string input = r.GetValue(prompt) ?? (r.GetValue(file) is { } path
                ? File.Exists(path) ? File.ReadAllText(path) : throw new AssetNotFoundException(path, "text file")
                : throw new InvalidRequestException("give the text with --prompt TEXT, --file FILE or --jsonl"));
            var ids = tokenizer.Encode(input, addBos, parseSpecial);
            if (r.GetValue(json))
            {
                var pieces = ids.Select(id => tokenizer.Decode([id], renderSpecial: true)).ToArray();
                stdout.WriteLine(JsonSerializer.Serialize(new { ids, pieces }, Relaxed));
            }
            else stdout.WriteLine(string.Join(' ', ids));
            return 0;
        }));
        return cmd;
    }
}
