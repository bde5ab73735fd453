using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Augur.Server;

/// <summary>A request the API refuses, with the OpenAI error fields: HTTP status, type, the parameter at fault and a code.</summary>
sealed class ApiException(int status, string message, string? param = null, string? code = null, string type = "invalid_request_error")
    : Exception(SafeText.Line(message)) // bounded, whatever it quotes
{
    public int Status { get; } = status;
    public string Type { get; } = type;
    public string? Param { get; } = param;
    public string? Code { get; } = code;

    public static ApiException Invalid(string message, string? param = null, string? code = null) => new(StatusCodes.Status400BadRequest, message, param, code);

    /// <summary>The OpenAI error body: <c>{"error":{"message","type","param","code"}}</c>.</summary>
    public object Body => new { error = new { message = Message, type = Type, param = Param, code = Code } };

    public Task WriteAsync(HttpResponse response)
    {
        response.StatusCode = Status;
        response.ContentType = "application/json";
        return response.WriteAsync(JsonSerializer.Serialize(Body, Json.Options));
    }
}

static class Json
{
    // Text stays readable (no \u escapes for quotes or non-ASCII); the body is JSON, never embedded in HTML.
    public static readonly JsonSerializerOptions Options = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
}
