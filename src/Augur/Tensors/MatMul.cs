using System.Runtime.InteropServices;

namespace Augur.Tensors;

/// <summary>
/// Multiplies a batch of activations by up to three weight matrices that share the input
/// (Q/K/V, or gate/up) in one dispatch to the worker pool: y_m[t, r] = W_m[r] · x[t].
/// Activations are converted once to each matrix's activation format (8-bit blocks for quantized weights);
/// each worker then takes a static share of every matrix's rows. Allocates nothing after construction.
/// </summary>
public sealed unsafe class MatMul : IParallelJob, IDisposable
{
    const int MaxMatrices = 3;
    readonly WorkerPool _pool;
    readonly WeightMatrix[] _w = new WeightMatrix[MaxMatrices];
    readonly float*[] _y = new float*[MaxMatrices];
    readonly byte*[] _x = new byte*[MaxMatrices];
    readonly long[] _xBytes = new long[MaxMatrices];
    readonly NativeBuffer[] _scratch = new NativeBuffer[MaxMatrices];
    int _count, _tokens;

    public MatMul(WorkerPool pool, long maxActivationBytes)
    {
        _pool = pool;
        for (int i = 0; i < MaxMatrices; i++) _scratch[i] = new NativeBuffer(maxActivationBytes);
    }

    public void Multiply(WeightMatrix w, float* x, int tokens, float* y)
    {
        Begin(tokens);
        Add(w, y, x);
        _pool.Run(this, Work());
    }

    public void Multiply(WeightMatrix w0, float* y0, WeightMatrix w1, float* y1, float* x, int tokens)
    {
        Begin(tokens);
        Add(w0, y0, x);
        Add(w1, y1, x);
        _pool.Run(this, Work());
    }

    public void Multiply(WeightMatrix w0, float* y0, WeightMatrix w1, float* y1, WeightMatrix w2, float* y2, float* x, int tokens)
    {
        Begin(tokens);
        Add(w0, y0, x);
        Add(w1, y1, x);
        Add(w2, y2, x);
        _pool.Run(this, Work());
    }

    long Work()
    {
        long work = 0;
        for (int m = 0; m < _count; m++) work += (long)_w[m].Rows * _w[m].Cols * _tokens;
        return work;
    }

    void Begin(int tokens)
    {
        _tokens = tokens;
        _count = 0;
    }

    void Add(WeightMatrix w, float* y, float* x)
    {
        int i = _count++;
        _w[i] = w;
        _y[i] = y;
        var af = w.Format.ActivationFormat;
        _xBytes[i] = af.RowBytes(w.Cols);
        if (af is F32Format) { _x[i] = (byte*)x; return; }
        // Reuse an earlier matrix's converted activations when the format matches.
        for (int j = 0; j < i; j++)
            if (_w[j].Format.ActivationFormat == af && _w[j].Cols == w.Cols) { _x[i] = _x[j]; return; }
        long need = _xBytes[i] * _tokens;
        if (need > _scratch[i].Length) throw new InvalidOperationException($"activation scratch of {_scratch[i].Length} bytes is too small for {need}");
        byte* dst = _scratch[i].Pointer;
        for (int t = 0; t < _tokens; t++) af.QuantizeRow(x + (long)t * w.Cols, dst + t * _xBytes[i], w.Cols);
        _x[i] = dst;
    }

    public void Execute(int part, int parts)
    {
        for (int m = 0; m < _count; m++)
        {
            var w = _w[m];
            var (r0, r1) = WorkerPool.Split(w.Rows, part, parts, align: 4);
            if (r0 < r1)
                w.Format.MultiplyRows(w.Data, w.RowBytes, _x[m], _xBytes[m], _tokens, _y[m], w.Rows, r0, r1, w.Cols);
        }
    }

    public void Dispose()
    {
        foreach (var s in _scratch) s.Dispose();
    }
}
