using Augur;

namespace Augur.Cli.Commands;

/// <summary>Runs a command body and turns Augur's errors (and I/O failures) into one readable line and exit code 1
/// (escaped and bounded by <see cref="SafeText.Line"/>, whatever the message quotes);
/// anything unexpected is one line too, with exit code 2.</summary>
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
            Console.Error.WriteLine($"error: {SafeText.Line(e.Message)}");
            return 1;
        }
        catch (IOException e)
        {
            Console.Error.WriteLine($"error: {SafeText.Line(e.Message)}");
            return 1;
        }
        catch (UnauthorizedAccessException e)
        {
            Console.Error.WriteLine($"error: {SafeText.Line(e.Message)}");
            return 1;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("error: cancelled");
            return 130;
        }
        catch (Exception e)
        {
            // A bug, not a user error: still one line (set AUGUR_DEBUG=1 for the stack trace).
            Console.Error.WriteLine($"error: internal error ({e.GetType().Name}): {SafeText.Line(e.Message)}");
            if (Environment.GetEnvironmentVariable("AUGUR_DEBUG") == "1") Console.Error.WriteLine(e);
            return 2;
        }
    }

    /// <summary>The model to use: the given path, else the default model from the shared folder.</summary>
    public static string ModelPath(string? given) => given ?? SharedAssets.Model(SharedAssets.DefaultModel);
}
