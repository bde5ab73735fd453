using Augur.Chat;
using Augur.Generation;
using Augur.Model;
using Augur.Tests.Support;

namespace Augur.Tests.Generation;

/// <summary>A generator keeps its cache between requests: a chat's next turn prefills only what is new, and generates what a fresh cache would.</summary>
public sealed class PromptReuseTests : IDisposable
{
    readonly LoadedModel _model = LoadedModel.Open(Reference.Stories260KGguf);

    public void Dispose() => _model.Dispose();

    [Fact]
    public void The_fifth_turn_of_a_chat_prefills_only_its_new_tokens_and_replies_as_a_fresh_cache_does()
    {
        var chat = ChatPrompt.ForModel(_model);
        var generator = new Generator(_model.Model, _model.Tokenizer, contextLength: 1024);
        var turns = new List<ChatTurn>();
        int[] previous = [];
        string[] messages = ["Once upon a time", "there was a cat", "who liked the sun", "and a little dog", "They played all day"];
        for (int turn = 0; turn < messages.Length; turn++)
        {
            turns.Add(new ChatTurn("user", messages[turn]));
            int[] prompt = chat.Encode(turns);
            var request = new GenerationRequest { PromptIds = prompt, MaxTokens = 12, Sampling = new Augur.Sampling.SamplingOptions { Temperature = 0.8f, Seed = 42 } };
            var result = generator.Generate(request);

            // What the cache held (the previous prompt and reply) and this prompt share, but the last prompt token.
            // Sampled with a seed, so that a cell reused wrongly would change the reply.
            int common = 0;
            while (common < Math.Min(previous.Length, prompt.Length - 1) && previous[common] == prompt[common]) common++;
            Assert.Equal(common, result.ReusedPromptTokens);
            var fresh = new Generator(_model.Model, _model.Tokenizer, contextLength: 1024).Generate(request);
            Assert.Equal(fresh.Ids, result.Ids);
            if (turn == messages.Length - 1)
            {
                int prefilled = prompt.Length - result.ReusedPromptTokens;
                Assert.True(prefilled < prompt.Length / 3, $"turn 5 prefilled {prefilled} of {prompt.Length} prompt tokens");
            }
            // The cache holds every token fed: the prompt and the reply, less the reply's last token when the reply
            // ran to its length (that one was sampled, never fed); after an end of sequence all of it.
            previous = [.. prompt, .. result.FinishReason == FinishReason.Length ? result.Ids[..^1] : result.Ids];
            turns.Add(new ChatTurn("assistant", result.Text));
        }
    }
}
