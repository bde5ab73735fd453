using System.CommandLine;
using Augur.Sampling;

namespace Augur.Cli.Commands;

/// <summary>The sampling options `generate` and `chat` share, with llama.cpp's defaults.</summary>
sealed class SamplingArguments
{
    readonly Option<float> _temperature = new("--temperature", "-t") { Description = "0 = greedy", DefaultValueFactory = _ => 0.8f };
    readonly Option<int> _topK = new("--top-k") { Description = "keep the k most likely tokens (0 = off)", DefaultValueFactory = _ => 40 };
    readonly Option<float> _topP = new("--top-p") { Description = "nucleus sampling mass (1 = off)", DefaultValueFactory = _ => 0.95f };
    readonly Option<float> _minP = new("--min-p") { Description = "drop tokens below this fraction of the best one's probability (0 = off)", DefaultValueFactory = _ => 0.05f };
    readonly Option<float> _repeat = new("--repeat-penalty") { Description = "1 = off", DefaultValueFactory = _ => 1.0f };
    readonly Option<float> _presence = new("--presence-penalty") { DefaultValueFactory = _ => 0f };
    readonly Option<float> _frequency = new("--frequency-penalty") { DefaultValueFactory = _ => 0f };
    readonly Option<int?> _seed = new("--seed", "-s") { Description = "random seed (same seed, same output)" };

    public void AddTo(Command command)
    {
        foreach (Option o in new Option[] { _temperature, _topK, _topP, _minP, _repeat, _presence, _frequency, _seed }) command.Options.Add(o);
    }

    public SamplingOptions Parse(ParseResult r) => new()
    {
        Temperature = r.GetValue(_temperature),
        TopK = r.GetValue(_topK),
        TopP = r.GetValue(_topP),
        MinP = r.GetValue(_minP),
        RepeatPenalty = r.GetValue(_repeat),
        PresencePenalty = r.GetValue(_presence),
        FrequencyPenalty = r.GetValue(_frequency),
        Seed = r.GetValue(_seed),
    };
}
