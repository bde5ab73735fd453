namespace Augur.ChatTemplates;

/// <summary>
/// A chat template could not be parsed or rendered. <see cref="Line"/> and <see cref="Column"/> (1-based) point
/// into the template source. When the template itself gave up through <c>raise_exception(msg)</c>,
/// <see cref="RaisedByTemplate"/> is true and the message is the template's own text, because it is written for the
/// user ("System role not supported"); otherwise the message starts with the position. Either way it is escaped and
/// bounded (<see cref="SafeText.Line"/>): a template comes from a model file and must not write to a terminal.
/// </summary>
public sealed class ChatTemplateException : AugurException
{
    internal ChatTemplateException(string reason, int line, int column, bool raisedByTemplate = false)
        : base(SafeText.Line(raisedByTemplate ? reason : $"chat template, line {line}, column {column}: {reason}", 500))
    {
        Reason = reason;
        Line = line;
        Column = column;
        RaisedByTemplate = raisedByTemplate;
    }

    /// <summary>What went wrong, without the position.</summary>
    public string Reason { get; }

    public int Line { get; }

    public int Column { get; }

    /// <summary>True when the template called <c>raise_exception</c>; <see cref="Exception.Message"/> is then its text.</summary>
    public bool RaisedByTemplate { get; }
}
