namespace Circumvent.Engine;

// STUB: signatures fixed for the other layers; implementation owned by the elementwise work.
public static partial class Op
{
    /// <summary>Broadcasting (NumPy rules) a + b.</summary>
    public static Tensor Add(Tensor a, Tensor b) => throw new NotImplementedException();
    public static Tensor Sub(Tensor a, Tensor b) => throw new NotImplementedException();
    public static Tensor Mul(Tensor a, Tensor b) => throw new NotImplementedException();
    public static Tensor Div(Tensor a, Tensor b) => throw new NotImplementedException();
    public static Tensor AddScalar(Tensor a, float s) => throw new NotImplementedException();
    public static Tensor MulScalar(Tensor a, float s) => throw new NotImplementedException();
    public static Tensor Neg(Tensor a) => throw new NotImplementedException();
    public static Tensor Exp(Tensor a) => throw new NotImplementedException();
    public static Tensor Log(Tensor a) => throw new NotImplementedException();
    public static Tensor Sqrt(Tensor a) => throw new NotImplementedException();
    public static Tensor Abs(Tensor a) => throw new NotImplementedException();
    public static Tensor Square(Tensor a) => throw new NotImplementedException();
    public static Tensor Relu(Tensor a) => throw new NotImplementedException();
    public static Tensor Sigmoid(Tensor a) => throw new NotImplementedException();
    public static Tensor Tanh(Tensor a) => throw new NotImplementedException();
    /// <summary>Inverted dropout: zeroes with probability p and scales survivors by 1/(1−p) in training; identity otherwise.</summary>
    public static Tensor Dropout(Tensor a, float p, bool training, Random rng) => throw new NotImplementedException();
}
