using Augur;

namespace Augur.Cli.Commands;

/// <summary>Runs a command body and turns Augur's errors (and I/O failures) into one readable line and exit code 1.</summary>
static class CliErrors
{
    public static int Run(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (AugurException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
        catch (IOException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
        catch (UnauthorizedAccessException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }

    /// <summary>The model to use: the given path, else the default model from the shared folder.</summary>
    public static string ModelPath(string? given) => given ?? SharedAssets.Model(SharedAssets.DefaultModel);
}
