using System.Net;
using System.Security.Cryptography;
using System.Text;
using Augur.Chat;
using Augur.ChatTemplates;
using Augur.Generation;
using Augur.Model;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Augur.Server;

/// <summary>
/// The OpenAI-compatible HTTP server: one model, one <see cref="BatchScheduler"/> that batches every request,
/// Kestrel on the configured address. Endpoints: POST /v1/chat/completions, POST /v1/completions,
/// GET /v1/models, GET /v1/models/{id}, GET /health. Errors use OpenAI's body and status codes.
/// </summary>
public sealed class AugurServer : IAsyncDisposable
{
    readonly WebApplication _app;
    readonly LoadedModel _model;
    readonly IRequestScheduler _scheduler;

    public string ModelId { get; }

    /// <summary>Why the model's chat template is not in use (it failed at load), or null; the server still serves
    /// completions, and chat requests get an error or, with <see cref="ServerOptions.DefaultTemplateOnFailure"/>, ChatML.</summary>
    public string? ChatProblem { get; }

    AugurServer(ServerOptions options, LoadedModel model, IServingBackend? backend)
    {
        _model = model;
        ModelId = options.Alias ?? Path.GetFileNameWithoutExtension(options.ModelPath);
        var chat = ChatPrompt.ForModel(model, options.TemplateLimits, options.DefaultTemplateOnFailure);
        ChatProblem = chat.LoadProblem;
        int context = ContextWindow.Resolve(model.Model.Config, options.ContextLength, options.AllowLongContext);
        _scheduler = backend?.CreateScheduler(model, context)
            ?? new BatchScheduler(model.Model, model.Tokenizer, options.Parallel, context, options.MaxWaiting, options.KvCache);

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        // A failed start (port in use) surfaces as the exception StartAsync throws; the host's stack-trace log adds nothing.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.Critical);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = options.MaxBodyBytes;
            if (options.Host == "localhost") k.ListenLocalhost(options.Port);
            else k.Listen(IPAddress.Parse(options.Host), options.Port);
        });
        _app = builder.Build();
        _app.Use(Errors);
        _app.Use(new OriginGuard(options).InvokeAsync);
        if (options.ApiKey is { } key) _app.Use(RequireKey(key));

        var completions = new Completions(_scheduler, chat, ModelId, options.MaxFieldChars);
        _app.MapPost("/v1/chat/completions", http => completions.HandleAsync(http, isChat: true));
        _app.MapPost("/v1/completions", http => completions.HandleAsync(http, isChat: false));
        long created = new DateTimeOffset(File.GetLastWriteTimeUtc(options.ModelPath)).ToUnixTimeSeconds();
        var modelEntry = new { id = ModelId, @object = "model", created, owned_by = "augur" };
        _app.MapGet("/v1/models", () => Results.Json(new { @object = "list", data = new[] { modelEntry } }));
        _app.MapGet("/v1/models/{id}", (string id) => id == ModelId ? Results.Json(modelEntry)
            : throw new ApiException(StatusCodes.Status404NotFound, $"The model '{SafeText.Quote(id)}' does not exist", "model", "model_not_found"));
        _app.MapGet("/health", () => Results.Json(new { status = "ok" }));
        backend?.MapRoutes(_app);
        _app.MapFallback((HttpContext http) =>
            throw new ApiException(StatusCodes.Status404NotFound, $"Unknown request URL: {SafeText.Quote(http.Request.Method)} {SafeText.Quote(http.Request.Path.ToString(), 200)}", code: "unknown_url"));
    }

    /// <summary>Loads the model and prepares the server; <see cref="StartAsync"/> starts listening. Without a
    /// <paramref name="backend"/> the model runs here, in one <see cref="BatchScheduler"/>.</summary>
    public static AugurServer Create(ServerOptions options, IServingBackend? backend = null)
    {
        if (options.Parallel < 1) throw new InvalidRequestException($"--parallel must be ≥ 1 (got {options.Parallel})");
        if (options.Port is < 0 or > 65535) throw new InvalidRequestException($"--port must be in [0, 65535] (got {options.Port})");
        if (options.ContextLength is < 2) throw new InvalidRequestException($"--ctx must be ≥ 2 (got {options.ContextLength})");
        if (options.Parallel > 4096) throw new InvalidRequestException($"--parallel must be ≤ 4096 (got {options.Parallel})");
        if (options.MaxWaiting < 0) throw new InvalidRequestException($"the waiting queue must be ≥ 0 (got {options.MaxWaiting})");
        if (options.MaxBodyBytes < 1 || options.MaxFieldChars < 1) throw new InvalidRequestException("request size limits must be ≥ 1");
        options.TemplateLimits.Validate();
        if (options.Host != "localhost" && !IPAddress.TryParse(options.Host, out _))
            throw new InvalidRequestException($"--host '{options.Host}' is not an IP address or 'localhost'");
        var model = LoadedModel.Open(options.ModelPath, options.TokenizerPath);
        try
        {
            return new AugurServer(options, model, backend);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Where the server listens, with the actual port when 0 was asked for (valid once started).</summary>
    public Uri Address => new(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

    public Task StartAsync(CancellationToken cancel = default) => _app.StartAsync(cancel);

    /// <summary>Waits for Ctrl+C or SIGTERM.</summary>
    public Task WaitForShutdownAsync(CancellationToken cancel = default) => _app.WaitForShutdownAsync(cancel);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _scheduler.Dispose();
        _model.Dispose();
    }

    /// <summary>Turns failures into OpenAI error bodies: 400 bad request, 404, 413 too large, 503 busy, 500 anything else.</summary>
    static async Task Errors(HttpContext http, RequestDelegate next)
    {
        try
        {
            await next(http);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // The client went away; the scheduler has already dropped its request.
        }
        catch (Exception e) when (!http.Response.HasStarted)
        {
            await Refusal(e).WriteAsync(http.Response);
        }
    }

    static ApiException Refusal(Exception e) => e switch
    {
        ApiException api => api,
        BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } => new(StatusCodes.Status413PayloadTooLarge, e.Message, code: "request_too_large"),
        BadHttpRequestException bad => new(bad.StatusCode, bad.Message),
        InvalidRequestException or ChatTemplateException => ApiException.Invalid(e.Message),
        SchedulerBusyException => new(StatusCodes.Status503ServiceUnavailable, e.Message, code: "overloaded", type: "server_error"),
        _ => new(StatusCodes.Status500InternalServerError, $"internal error: {e.Message}", type: "server_error"),
    };

    /// <summary>With --api-key: every /v1 request needs <c>Authorization: Bearer KEY</c> (/health stays open, as in llama.cpp).</summary>
    static Func<HttpContext, RequestDelegate, Task> RequireKey(string key)
    {
        byte[] expected = Encoding.UTF8.GetBytes("Bearer " + key);
        return (http, next) =>
        {
            if (!http.Request.Path.StartsWithSegments("/v1")) return next(http);
            string given = http.Request.Headers.Authorization.ToString();
            if (CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(given), expected)) return next(http);
            http.Response.Headers.WWWAuthenticate = "Bearer";
            throw new ApiException(StatusCodes.Status401Unauthorized,
                given.Length == 0 ? "You didn't provide an API key: send it as 'Authorization: Bearer KEY'" : "Incorrect API key provided",
                code: "invalid_api_key");
        };
    }
}

/// <summary>Where a server's requests run when not in its own <see cref="BatchScheduler"/> (the cluster gateway),
/// and the routes that come with it.</summary>
public interface IServingBackend
{
    /// <summary>The scheduler requests go to; <paramref name="model"/> is loaded here for its tokenizer and template.</summary>
    IRequestScheduler CreateScheduler(LoadedModel model, int contextLength);
    /// <summary>Routes beyond the OpenAI API (e.g. GET /cluster).</summary>
    void MapRoutes(IEndpointRouteBuilder routes);
}
