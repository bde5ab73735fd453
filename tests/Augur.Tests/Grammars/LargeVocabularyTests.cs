using System.Text.Json;
using Augur.Conversion;
using Augur.Generation;
using Augur.Grammars;
using Augur.Model;
using Augur.Sampling;
using Augur.Tests.Tokenizers;
using Augur.Tensors;
using Json.Schema;

namespace Augur.Tests.Grammars;

/// <summary>
/// The 20 schemas with Llama 3's byte-level BPE vocabulary (128,256 pieces, multi-byte and space-prefixed
/// pieces, quotes glued to letters) on a tiny synthetic model: random weights make every allowed token about
/// equally likely, so the mask alone must keep each output valid.
/// </summary>
public sealed class LargeVocabularyTests
{
    static readonly Lazy<string> Model = new(() =>
    {
        string path = Path.Combine(Directory.CreateTempSubdirectory("augur-grammar-").FullName, "llama3-tiny.gguf");
        var vocab = ConvertedVocabularies.Tokenizer("llama3").Vocabulary;
        SyntheticModel.Write(path, SyntheticModel.Config(new SyntheticModel.Shape(32, 1, 2, 2, 64), vocab.Count, 1024), vocab, GgmlType.F16);
        return path;
    });

    [Fact]
    public void Sampled_outputs_over_twenty_schemas_validate_with_the_llama3_vocabulary()
    {
        using var model = LoadedModel.Open(Model.Value);
        var generator = new Generator(model.Model, model.Tokenizer);
        for (int s = 0; s < TestSchemas.All.Length; s++)
            for (int seed = 0; seed < 2; seed++) SampleValid(generator, TestSchemas.All[s], seed + 31 * s);
    }

    /// <summary>
    /// Long bounds near and far from the tables' near length (a count in the frame, one table for the far counts,
    /// long tokens checked at run time): every output keeps its lengths and counts.
    /// </summary>
    [Fact]
    public void Long_counted_bounds_hold()
    {
        using var model = LoadedModel.Open(Model.Value);
        var generator = new Generator(model.Model, model.Tokenizer);
        const string schema = """{"type":"object","properties":{"text":{"type":"string","minLength":50,"maxLength":90},"list":{"type":"array","items":{"type":"integer"},"minItems":25,"maxItems":40}},"required":["text","list"]}""";
        var grammar = JsonSchemaGrammar.Compile(schema);
        for (int seed = 0; seed < 4; seed++) SampleValid(generator, schema, seed, grammar);
    }

    static void SampleValid(Generator generator, string schemaText, int seed, Grammar? grammar = null)
    {
        var result = generator.Generate(new GenerationRequest
        {
            Prompt = "Answer in JSON:",
            MaxTokens = 600,
            Sampling = new SamplingOptions { Seed = seed, Temperature = 1.0f, TopK = 0, TopP = 1, MinP = 0 },
            Grammar = grammar ?? JsonSchemaGrammar.Compile(schemaText),
        });
        Assert.True(result.FinishReason == FinishReason.EndOfSequence, $"seed {seed}: {result.FinishReason} after {result.Text}");
        using var doc = JsonDocument.Parse(result.Text);
        var schema = JsonSchema.FromText(schemaText);
        Assert.True(schema.Evaluate(doc.RootElement, new EvaluationOptions { RequireFormatValidation = true }).IsValid, $"seed {seed}: {result.Text}");
    }
}
