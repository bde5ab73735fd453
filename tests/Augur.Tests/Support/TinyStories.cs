namespace Augur.Tests.Support;

/// <summary>The shared TinyStories validation sample (../shared/data/tinystories-valid-sample.txt) as test prompts.</summary>
public static class TinyStories
{
    static readonly Lazy<string[]> Openings = new(() => File.ReadAllText(SharedAssets.Data("tinystories-valid-sample.txt"))
        .Split("<|endoftext|>", StringSplitOptions.RemoveEmptyEntries)
        .Select(story => story.Trim())
        .Where(story => story.Length > 0)
        .Select(story => story[..(story.IndexOf('.') is int dot and >= 0 ? dot + 1 : story.Length)])
        .Take(50).ToArray());

    /// <summary>The first sentence of each of the first 50 stories.</summary>
    public static string[] FirstSentences => Openings.Value;
}
