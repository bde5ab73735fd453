namespace Augur.Server;

/// <summary>How <c>augur serve</c> runs: which model, where to listen, who may call, how many requests at once.</summary>
public sealed record ServerOptions
{
    public required string ModelPath { get; init; }
    /// <summary>Tokenizer for a llama2.c checkpoint (GGUF files carry their own).</summary>
    public string? TokenizerPath { get; init; }
    /// <summary>Loopback unless told otherwise: the server has no TLS and one key at most.</summary>
    public string Host { get; init; } = "127.0.0.1";
    /// <summary>0 picks a free port (see <see cref="AugurServer.Address"/> once started).</summary>
    public int Port { get; init; } = 8080;
    /// <summary>When set, every /v1 request needs <c>Authorization: Bearer KEY</c>.</summary>
    public string? ApiKey { get; init; }
    /// <summary>Requests decoded together (KV-cache rows).</summary>
    public int Parallel { get; init; } = 1;
    /// <summary>Tokens per request (default: the model's trained context, at most <see cref="Augur.Model.ContextWindow.DefaultMax"/>).</summary>
    public int? ContextLength { get; init; }
    /// <summary>The model's id in the API (default: the file name without extension).</summary>
    public string? Alias { get; init; }
    /// <summary>Requests that may wait for a slot; beyond that the server answers 503.</summary>
    public int MaxWaiting { get; init; } = 64;
    /// <summary>KV cache element type (F16 halves the cache's memory).</summary>
    public Augur.Cache.KvType KvType { get; init; } = Augur.Cache.KvType.F32;
    /// <summary>Bytes of the paged KV cache's block pool (default: the cells of <see cref="Parallel"/> full contexts,
    /// mapped by the OS only as they are written).</summary>
    public long? KvMemory { get; init; }

    /// <summary>The scheduler's cache: paged, prefix blocks hashed for this model file.</summary>
    public Augur.Cache.KvCacheOptions KvCache => new()
    {
        Type = KvType, Paged = true, PoolBytes = KvMemory,
        ModelHash = Augur.Cache.PrefixBlockHash.ModelFile(ModelPath),
    };
    /// <summary>Largest request body; larger ones get 413.</summary>
    public long MaxBodyBytes { get; init; } = 8 << 20;
    /// <summary>Largest text field (a prompt, a message's content, a stop string) in characters; longer ones get 400.</summary>
    public int MaxFieldChars { get; init; } = 4 << 20;
    /// <summary>The budget of each chat-template render (steps, output, built values).</summary>
    public Augur.ChatTemplates.ChatTemplateLimits TemplateLimits { get; init; } = Augur.ChatTemplates.ChatTemplateLimits.Default;
    /// <summary>Use the default ChatML template when the model's own fails at load (otherwise chat requests are refused).</summary>
    public bool DefaultTemplateOnFailure { get; init; }
    /// <summary>Host names (besides loopback ones) that requests may name in their <c>Host</c> header. On a loopback
    /// address only loopback names are accepted unless listed here: that is what defeats DNS rebinding. On another
    /// address every host is accepted unless this list is given.</summary>
    public IReadOnlyList<string> AllowedHosts { get; init; } = [];
    /// <summary>Origins allowed to call the API from a browser (CORS); "*" allows any. Empty: cross-origin requests are refused.</summary>
    public IReadOnlyList<string> CorsOrigins { get; init; } = [];
    /// <summary>Allow <see cref="ContextLength"/> beyond the model's trained context (quality degrades past it).</summary>
    public bool AllowLongContext { get; init; }
}
