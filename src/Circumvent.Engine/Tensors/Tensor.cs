using Circumvent.Engine.Autograd;
using Circumvent.Engine.Diagnostics;
using Circumvent.Engine.Memory;

namespace Circumvent.Engine;

/// <summary>
/// A dense, contiguous, row-major float32 tensor (images are NCHW). Every op returns a new
/// contiguous tensor; views are not part of the model, which keeps kernels simple and SIMD-friendly.
/// A tensor created while gradients are enabled and any input requires them records a
/// <see cref="Autograd.Node"/>; <see cref="Backward"/> walks those nodes in reverse.
/// </summary>
public sealed class Tensor : IDisposable
{
    private float[]? _data;

    /// <summary>Wraps <paramref name="data"/> without copying; the tensor does not return it to the pool.</summary>
    public Tensor(int[] shape, float[] data, bool requiresGrad = false)
        : this(shape, data, requiresGrad, pooled: false) { }

    private Tensor(int[] shape, float[] data, bool requiresGrad, bool pooled)
    {
        int n = Engine.Shape.Size(shape);
        if (data.Length != n)
            throw new ArgumentException($"Shape {Engine.Shape.Format(shape)} needs {n} values, got {data.Length}.");
        Shape = shape;
        Length = n;
        _data = data;
        RequiresGrad = requiresGrad;
        IsPooled = pooled;
        if (pooled) TensorScope.Register(this);
    }

    public int[] Shape { get; }
    public int Length { get; }
    public int Rank => Shape.Length;
    public bool RequiresGrad { get; set; }
    public Tensor? Grad { get; private set; }
    internal Node? Node { get; set; }
    internal bool IsPooled { get; }
    public bool IsDisposed => _data is null;

    /// <summary>The backing array (exactly <see cref="Length"/> long).</summary>
    public float[] Data => _data ?? throw new ObjectDisposedException(nameof(Tensor), "This tensor's buffer was released (its TensorScope ended).");
    public Span<float> Span => Data.AsSpan();

    public int Dim(int axis) => Shape[Engine.Shape.Axis(axis, Rank)];

    // ---- creation -------------------------------------------------------------------------

    /// <summary>Uninitialised pooled tensor: the op writing into it must fill every element.</summary>
    public static Tensor Empty(params int[] shape) => new(shape, BufferPool.Rent(Engine.Shape.Size(shape)), false, pooled: true);
    public static Tensor Zeros(params int[] shape) => new(shape, BufferPool.RentZeroed(Engine.Shape.Size(shape)), false, pooled: true);
    public static Tensor Full(float value, params int[] shape)
    {
        var t = Empty(shape);
        t.Span.Fill(value);
        return t;
    }
    public static Tensor Ones(params int[] shape) => Full(1f, shape);
    public static Tensor Scalar(float value) => new([], [value]);
    public static Tensor FromArray(float[] data, params int[] shape) => new(shape, data);

    /// <summary>Parameter-style leaf: owns a fresh array, is never pooled, requires gradients.</summary>
    public static Tensor Parameter(float[] data, params int[] shape) => new(shape, data, requiresGrad: true);

    public static Tensor Randn(Random rng, params int[] shape)
    {
        var t = new Tensor(shape, new float[Engine.Shape.Size(shape)]);
        var s = t.Span;
        for (int i = 0; i < s.Length; i += 2)
        {
            // Box-Muller: two independent normals per pair of uniforms.
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            double r = Math.Sqrt(-2.0 * Math.Log(u1));
            s[i] = (float)(r * Math.Cos(2 * Math.PI * u2));
            if (i + 1 < s.Length) s[i + 1] = (float)(r * Math.Sin(2 * Math.PI * u2));
        }
        return t;
    }

    public static Tensor Uniform(Random rng, float low, float high, params int[] shape)
    {
        var t = new Tensor(shape, new float[Engine.Shape.Size(shape)]);
        var s = t.Span;
        for (int i = 0; i < s.Length; i++) s[i] = low + (high - low) * (float)rng.NextDouble();
        return t;
    }

    /// <summary>An unpooled copy with no graph history.</summary>
    public Tensor Clone(bool requiresGrad = false) => new(Shape.ToArray(), Span.ToArray(), requiresGrad);

    /// <summary>Same values, no graph history, shares the buffer.</summary>
    public Tensor Detach() => new(Shape, Data, false, pooled: false);

    public float Item()
    {
        if (Length != 1) throw new InvalidOperationException($"Item() needs a one-element tensor, got shape {Engine.Shape.Format(Shape)}.");
        return Data[0];
    }

    public float[] ToArray() => Span.ToArray();

    // ---- autograd -------------------------------------------------------------------------

    /// <summary>
    /// Creates an op's output and, when gradients are enabled and any input needs them, records
    /// the node whose backward function (made from this output by <paramref name="backwardFactory"/>) receives this output's gradient.
    /// </summary>
    public static Tensor Result(int[] shape, string op, Tensor[] inputs, Func<Tensor, Action<Tensor>?> backwardFactory, bool zeroed = false)
    {
        var output = zeroed ? Zeros(shape) : Empty(shape);
        if (GradMode.IsEnabled && Array.Exists(inputs, i => i.RequiresGrad))
        {
            var backward = backwardFactory(output);
            if (backward is not null)
            {
                output.RequiresGrad = true;
                output.Node = new Node(op, inputs, backward);
            }
        }
        return output;
    }

    /// <summary>Whether an op should record a graph for these inputs.</summary>
    public static bool NeedsGraph(params Tensor[] inputs) => GradMode.IsEnabled && Array.Exists(inputs, i => i.RequiresGrad);

    /// <summary>Attaches a backward closure to an already computed output.</summary>
    public Tensor WithBackward(string op, Tensor[] inputs, Action<Tensor> backward)
    {
        OpProfiler.OpFinished(op);
        if (NeedsGraph(inputs))
        {
            RequiresGrad = true;
            Node = new Node(op, inputs, backward);
        }
        return this;
    }

    /// <summary>This tensor's gradient buffer, allocated as zeros on first use. Ops add into it.</summary>
    public Span<float> GradSpan()
    {
        Grad ??= new Tensor(Shape, BufferPool.RentZeroed(Length), false, pooled: false);
        return Grad.Span;
    }

    /// <summary>
    /// This tensor's gradient buffer for an op about to write every element of it. When no gradient exists
    /// yet it is allocated without zeroing and <paramref name="fresh"/> is true: the op must then assign,
    /// not add (saving a clearing pass and a read over the whole buffer).
    /// </summary>
    internal float[] GradForWrite(out bool fresh)
    {
        fresh = Grad is null;
        Grad ??= new Tensor(Shape, BufferPool.Rent(Length), false, pooled: false);
        return Grad.Data;
    }

    public void ZeroGrad()
    {
        if (Grad is not null) Grad.Span.Clear();
    }

    /// <summary>Drops the gradient buffer (PyTorch's <c>grad = None</c>): an optimiser then skips this tensor entirely, momentum and weight decay included.</summary>
    public void ReleaseGrad()
    {
        if (Grad is null) return;
        BufferPool.Return(Grad.Data);
        Grad._data = null;
        Grad = null;
    }

    /// <summary>
    /// Reverse-mode differentiation from this (scalar) tensor. <paramref name="releaseIntermediates"/>
    /// frees the graph's op outputs as the sweep passes them (see <see cref="Backprop.Run"/>): for
    /// training steps that have read everything they need (loss value, logits) beforehand.
    /// </summary>
    public void Backward(Tensor? seed = null, bool releaseIntermediates = false) => Backprop.Run(this, seed, releaseIntermediates);

    public void Dispose()
    {
        ReleaseGrad();
        Node = null;
        if (_data is null) return;
        if (IsPooled) BufferPool.Return(_data);
        _data = null;
    }

    // ---- operators (broadcasting elementwise; see Op.Elementwise) -------------------------

    public static Tensor operator +(Tensor a, Tensor b) => Op.Add(a, b);
    public static Tensor operator -(Tensor a, Tensor b) => Op.Sub(a, b);
    public static Tensor operator *(Tensor a, Tensor b) => Op.Mul(a, b);
    public static Tensor operator /(Tensor a, Tensor b) => Op.Div(a, b);
    public static Tensor operator +(Tensor a, float s) => Op.AddScalar(a, s);
    public static Tensor operator -(Tensor a, float s) => Op.AddScalar(a, -s);
    public static Tensor operator *(Tensor a, float s) => Op.MulScalar(a, s);
    public static Tensor operator *(float s, Tensor a) => Op.MulScalar(a, s);
    public static Tensor operator -(Tensor a) => Op.MulScalar(a, -1f);

    public override string ToString() => $"Tensor{Engine.Shape.Format(Shape)}" + (RequiresGrad ? " requires_grad" : "");
}
