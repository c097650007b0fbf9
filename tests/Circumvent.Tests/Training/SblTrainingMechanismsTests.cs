using Circumvent.Data.Loading;
using Circumvent.Engine;
using Circumvent.Engine.Optim;
using Circumvent.Models;
using Circumvent.Training;

namespace Circumvent.Tests.Training;

/// <summary>SBL's training pieces against hand computations: the SAM step, the EWC penalty and its gradient, the diagonal Fisher.</summary>
public class SblTrainingMechanismsTests
{
    /// <summary>L(w) = Σ ½·aᵢ·wᵢ² + bᵢ·wᵢ over one parameter "w", ignoring the batch: ∇L = a⊙w + b.</summary>
    private sealed class Quadratic(float[] a, float[] b) : ITrainingObjective
    {
        public BatchLoss Loss(IArchitecture architecture, ParameterSet weights, Batch batch, ForwardContext context)
        {
            var w = weights["w"];
            var half = Op.MulScalar(Op.Mul(Tensor.FromArray(a, a.Length), Op.Square(w)), 0.5f);
            return Op.Sum(Op.Add(half, Op.Mul(Tensor.FromArray(b, b.Length), w)));
        }

        public static double Value(float[] a, float[] b, double[] w) => Enumerable.Range(0, w.Length).Sum(i => 0.5 * a[i] * w[i] * w[i] + b[i] * w[i]);
    }

    private static readonly float[] A = [1f, 3f, 0.5f, 2f];
    private static readonly float[] B = [0.2f, -1f, 0.7f, 0f];
    private static readonly float[] W = [0.5f, -0.25f, 1.5f, -2f];

    private static ParameterSet Weights(float[] w)
    {
        var set = new ParameterSet();
        set.Add("w", Tensor.Parameter((float[])w.Clone(), w.Length), TensorRole.Parameter);
        return set;
    }

    private static Batch AnyBatch() => new(Tensor.Zeros(1, 1), [0], [0]);

    // Hand computation: g = a⊙w + b, e = ρ·g/‖g‖, the SAM point w + e.
    private static double[] SamPoint(double rho)
    {
        var g = Enumerable.Range(0, W.Length).Select(i => (double)A[i] * W[i] + B[i]).ToArray();
        double norm = Math.Sqrt(g.Sum(v => v * v));
        return Enumerable.Range(0, W.Length).Select(i => W[i] + rho * g[i] / norm).ToArray();
    }

    // The perturbation itself (one global norm, plain and adaptive) is checked by hand in FtSamTests.

    [Fact]
    public void SamObjectiveReturnsTheLossAtTheAscentPointWithItsGradientOnTheWeights()
    {
        const double rho = 0.3;
        var weights = Weights(W);
        var loss = new SharpnessAwareObjective(new Quadratic(A, B), rho).Loss(null!, weights, AnyBatch(), ForwardContext.Train(null, new Random(0))).Loss;
        var point = SamPoint(rho);
        Assert.Equal(Quadratic.Value(A, B, point), loss.Item(), 4);
        // The first pass's gradient was cleared: what remains is ∇L(w + e) = a⊙(w + e) + b alone.
        loss.Backward();
        var grad = weights["w"].Grad!.ToArray();
        for (int i = 0; i < W.Length; i++) Assert.Equal(A[i] * point[i] + B[i], grad[i], 4);
        Assert.Equal(W, weights["w"].ToArray()); // the weights themselves are not moved
    }

    [Fact]
    public void OneLoopStepWithSamMovesTheWeightsByTheGradientAtTheAscentPoint()
    {
        const double rho = 0.05, lr = 0.1;
        var weights = Weights(W);
        var loop = new TrainingLoop
        {
            Architecture = null!,
            Weights = new ModelWeights(weights),
            Objective = new SharpnessAwareObjective(new Quadratic(A, B), rho),
            Optimizer = new Sgd([weights["w"]], lr),
            Schedule = new ConstantSchedule(lr),
            Epochs = 1,
            ContextForEpoch = _ => ForwardContext.Train(null, new Random(0)),
        };
        loop.Run(new TensorBatchSource([0f], [0], [1], 1, null));
        var point = SamPoint(rho);
        var after = weights["w"].ToArray();
        for (int i = 0; i < W.Length; i++) Assert.Equal(W[i] - lr * (A[i] * point[i] + B[i]), after[i], 5);
    }

    [Fact]
    public void EwcPenaltyAndItsGradientMatchTheHandComputation()
    {
        const double lambda = 0.7;
        float[] fisher = [0.5f, 0f, 2f, 1.25f], anchor = [0.1f, 0.2f, -0.3f, 0.4f];
        var weights = Weights(W);
        var ewc = new ElasticWeightConsolidation(new Quadratic(A, B), Weights(fisher), Weights(anchor), lambda);
        var penalty = ewc.Penalty(weights);
        double expected = lambda * Enumerable.Range(0, 4).Sum(i => fisher[i] * Math.Pow(W[i] - anchor[i], 2));
        Assert.Equal(expected, penalty.Item(), 5);
        penalty.Backward();
        var grad = weights["w"].Grad!.ToArray();
        for (int i = 0; i < 4; i++) Assert.Equal(2 * lambda * fisher[i] * (W[i] - anchor[i]), grad[i], 5);

        // The objective adds it to the inner loss; the anchor was copied, so moving the given one later changes nothing.
        var anchorSet = Weights(anchor);
        var objective = new ElasticWeightConsolidation(new Quadratic(A, B), Weights(fisher), anchorSet, lambda);
        anchorSet["w"].Span.Fill(9f);
        var total = objective.Loss(null!, Weights(W), AnyBatch(), ForwardContext.Eval()).Loss.Item();
        Assert.Equal(Quadratic.Value(A, B, [.. W.Select(v => (double)v)]) + expected, total, 1e-4);
    }

    /// <summary>Softmax regression (logits = x·Wᵀ + b), whose log-likelihood gradient has a closed form.</summary>
    private sealed class SoftmaxRegression(int inputs, int classes) : IArchitecture
    {
        public ArchitectureConfig Config { get; } = new("softmax-regression", 1, 1, inputs, classes);
        public IReadOnlyList<TensorSpec> Tensors { get; } =
            [new("fc.weight", [classes, inputs], TensorRole.Parameter), new("fc.bias", [classes], TensorRole.Parameter)];

        public ParameterSet Initialize(Random rng)
        {
            var set = new ParameterSet();
            set.Add("fc.weight", Tensor.Uniform(rng, -1f, 1f, classes, inputs), TensorRole.Parameter);
            set.Add("fc.bias", Tensor.Uniform(rng, -0.5f, 0.5f, classes), TensorRole.Parameter);
            return set;
        }

        public Tensor Forward(ParameterSet p, Tensor x, ForwardContext context) => Op.Linear(Op.Flatten(x), p["fc.weight"], p["fc.bias"]);
    }

    [Fact]
    public void DiagonalFisherMatchesTheClosedFormOfSoftmaxRegression()
    {
        const int inputs = 3, classes = 4, examples = 7;
        var model = new SoftmaxRegression(inputs, classes);
        var parameters = model.Initialize(new Random(5));
        var rng = new Random(8);
        var x = Enumerable.Range(0, examples * inputs).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var y = Enumerable.Range(0, examples).Select(_ => rng.Next(classes)).ToArray();
        var fisher = DiagonalFisher.Estimate(model, parameters, new TensorBatchSource(x, y, [1, 1, inputs], 3, null));

        // ∂ log p(y|x)/∂W[k, d] = (1[k = y] − p_k)·x_d and ∂/∂b[k] = 1[k = y] − p_k; F = mean of p_y·(…)².
        var weight = parameters["fc.weight"].ToArray();
        var bias = parameters["fc.bias"].ToArray();
        var expectedW = new double[classes * inputs];
        var expectedB = new double[classes];
        for (int n = 0; n < examples; n++)
        {
            var logits = Enumerable.Range(0, classes).Select(k => bias[k] + Enumerable.Range(0, inputs).Sum(d => (double)weight[k * inputs + d] * x[n * inputs + d])).ToArray();
            double max = logits.Max(), z = logits.Sum(l => Math.Exp(l - max));
            var p = logits.Select(l => Math.Exp(l - max) / z).ToArray();
            for (int k = 0; k < classes; k++)
            {
                double residual = (k == y[n] ? 1 : 0) - p[k];
                expectedB[k] += p[y[n]] * residual * residual / examples;
                for (int d = 0; d < inputs; d++)
                    expectedW[k * inputs + d] += p[y[n]] * Math.Pow(residual * x[n * inputs + d], 2) / examples;
            }
        }
        var actualW = fisher["fc.weight"].ToArray();
        var actualB = fisher["fc.bias"].ToArray();
        for (int i = 0; i < expectedW.Length; i++) Assert.Equal(expectedW[i], actualW[i], 5);
        for (int k = 0; k < classes; k++) Assert.Equal(expectedB[k], actualB[k], 5);
        Assert.Null(parameters["fc.weight"].Grad); // it leaves no gradient behind

        // maxExamples: only the first examples count.
        var firstTwo = DiagonalFisher.Estimate(model, parameters, new TensorBatchSource(x, y, [1, 1, inputs], 3, null), maxExamples: 2);
        var onlyTwo = DiagonalFisher.Estimate(model, parameters, new TensorBatchSource(x[..(2 * inputs)], y[..2], [1, 1, inputs], 3, null));
        Assert.Equal(onlyTwo["fc.bias"].ToArray(), firstTwo["fc.bias"].ToArray());
    }
}
