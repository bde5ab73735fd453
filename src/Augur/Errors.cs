namespace Augur;

/// <summary>Base of every error Augur raises on purpose; the message is meant for the user as it is.</summary>
public class AugurException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>A model or tokenizer file is missing, malformed or uses something Augur does not support.
/// The message names the file, the field and the bad value.</summary>
public sealed class ModelFormatException(string message, Exception? inner = null) : AugurException(message, inner);

/// <summary>A file Augur needs (a model, a tokenizer, a reference asset) does not exist.</summary>
public sealed class AssetNotFoundException(string path, string what)
    : AugurException($"{what} not found: {path}")
{
    public string Path { get; } = path;
}

/// <summary>A request cannot be served as asked: a prompt longer than the context, an impossible option.</summary>
public class InvalidRequestException(string message) : AugurException(message);
