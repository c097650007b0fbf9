namespace Circumvent.Engine.Autograd;

/// <summary>
/// The recorded step that produced a tensor: its inputs and a closure that, given the output's
/// gradient, accumulates into the inputs' gradients (via <see cref="Tensor.GradSpan"/>).
/// </summary>
public sealed class Node
{
    public Node(string name, Tensor[] inputs, Action<Tensor> backward)
    {
        Name = name;
        Inputs = inputs;
        Backward = backward;
    }

    public string Name { get; }
    public Tensor[] Inputs { get; }
    public Action<Tensor> Backward { get; }
}
