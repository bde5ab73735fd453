using System.Net;
using Microsoft.AspNetCore.Http;

namespace Augur.Server;

/// <summary>
/// Keeps web pages the user visits from driving a local server. DNS rebinding points an attacker's name at
/// 127.0.0.1, so the browser sends the attacker's page's requests here with <c>Host: attacker.example</c>: on a
/// loopback address only loopback host names are served (plus <see cref="ServerOptions.AllowedHosts"/>). A page of
/// another origin can also post <c>text/plain</c> bodies without a preflight: a request to the API that carries an
/// <c>Origin</c> other than the server's own is refused unless that origin is in <see cref="ServerOptions.CorsOrigins"/>,
/// which also turns on CORS answers (preflight included) for it.
/// </summary>
sealed class OriginGuard(ServerOptions options)
{
    readonly HashSet<string> _hosts = new(options.AllowedHosts.Select(h => h.ToLowerInvariant()), StringComparer.Ordinal);
    readonly HashSet<string> _origins = new(options.CorsOrigins.Select(o => o.TrimEnd('/').ToLowerInvariant()), StringComparer.Ordinal);
    readonly bool _checkHost = IsLoopback(options.Host) || options.AllowedHosts.Count > 0;

    static bool IsLoopback(string host) => host == "localhost" || (IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip));

    /// <summary>A name a DNS answer cannot rebind: localhost, *.localhost (RFC 6761) or a loopback address literal.</summary>
    static bool IsLoopbackName(string host) =>
        host == "localhost" || host.EndsWith(".localhost", StringComparison.Ordinal) ||
        (IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));

    public Task InvokeAsync(HttpContext http, RequestDelegate next)
    {
        string host = http.Request.Host.Host.ToLowerInvariant();
        if (_checkHost && !IsLoopbackName(host) && !_hosts.Contains(host))
            throw new ApiException(StatusCodes.Status403Forbidden,
                $"Host '{SafeText.Quote(host)}' is not allowed: this server answers to loopback names only (add it with --allowed-hosts)", code: "host_not_allowed");

        string origin = http.Request.Headers.Origin.ToString();
        if (origin.Length == 0 || !http.Request.Path.StartsWithSegments("/v1")) return next(http);
        string normalized = origin.TrimEnd('/').ToLowerInvariant();
        if (normalized == SameOrigin(http)) return next(http);
        if (!_origins.Contains(normalized) && !_origins.Contains("*"))
            throw new ApiException(StatusCodes.Status403Forbidden,
                $"cross-origin requests from '{SafeText.Quote(origin)}' are refused (allow the origin with --cors)", code: "origin_not_allowed");

        http.Response.Headers.AccessControlAllowOrigin = origin;
        http.Response.Headers.Vary = "Origin";
        if (HttpMethods.IsOptions(http.Request.Method))
        {
            http.Response.Headers.AccessControlAllowMethods = "GET, POST, OPTIONS";
            http.Response.Headers.AccessControlAllowHeaders = "Authorization, Content-Type";
            http.Response.Headers.AccessControlMaxAge = "600";
            http.Response.StatusCode = StatusCodes.Status204NoContent;
            return Task.CompletedTask;
        }
        return next(http);
    }

    static string SameOrigin(HttpContext http) => $"{http.Request.Scheme}://{http.Request.Host.Value}".ToLowerInvariant();
}
