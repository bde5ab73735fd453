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
    [Fact]
    public void Sampled_outputs_over_twenty_schemas_validate_with_the_llama3_vocabulary()
    {
        string path = Path.Combine(Directory.CreateTempSubdirectory("augur-grammar-").FullName, "llama3-tiny.gguf");
        var vocab = ConvertedVocabularies.Tokenizer("llama3").Vocabulary;
        SyntheticModel.Write(path, SyntheticModel.Config(new SyntheticModel.Shape(32, 1, 2, 2, 64), vocab.Count, 1024), vocab, GgmlType.F16);
        using var model = LoadedModel.Open(path);
        var generator = new Generator(model.Model, model.Tokenizer);
        for (int s = 0; s < TestSchemas.All.Length; s++)
        {
            var grammar = JsonSchemaGrammar.Compile(TestSchemas.All[s]);
            var schema = JsonSchema.FromText(TestSchemas.All[s]);
            for (int seed = 0; seed < 2; seed++)
            {
                var result = generator.Generate(new GenerationRequest
                {
                    Prompt = "Answer in JSON:",
                    MaxTokens = 600,
                    Sampling = new SamplingOptions { Seed = seed + 31 * s, Temperature = 1.0f, TopK = 0, TopP = 1, MinP = 0 },
                    Grammar = grammar,
                });
                Assert.True(result.FinishReason == FinishReason.EndOfSequence, $"schema {s} seed {seed}: {result.FinishReason} after {result.Text}");
                using var doc = JsonDocument.Parse(result.Text);
                Assert.True(schema.Evaluate(doc.RootElement, new EvaluationOptions { RequireFormatValidation = true }).IsValid, $"schema {s}: {result.Text}");
            }
        }
    }
}
