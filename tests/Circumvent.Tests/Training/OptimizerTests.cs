using Circumvent.Engine;
using Circumvent.Engine.Optim;

namespace Circumvent.Tests.Training;

/// <summary>
/// Three steps on p = [1, −2, 0.5] with fixed gradients; expected values were produced by
/// torch.optim (PyTorch 1.13) with the same hyper-parameters: tools/fixtures/make_optimizer_values.py.
/// </summary>
public class OptimizerTests
{
    private static readonly float[][] Gradients =
    [
        [0.1f, -0.3f, 0.2f],
        [0.05f, 0.4f, -0.1f],
        [-0.2f, 0.1f, 0.3f],
    ];

    private static float[] Run(Func<IReadOnlyList<Tensor>, IOptimizer> make, int steps = 3)
    {
        var p = Tensor.Parameter([1f, -2f, 0.5f], 3);
        var optimizer = make([p]);
        for (int s = 0; s < steps; s++)
        {
            optimizer.ZeroGrad();
            Gradients[s].CopyTo(p.GradSpan());
            optimizer.Step();
        }
        return p.ToArray();
    }

    private static void AssertClose(double[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) < 2e-6, $"element {i}: expected {expected[i]}, got {actual[i]}");
    }

    [Fact]
    public void PlainSgdMatchesPyTorch() =>
        AssertClose([1.0049999952316284, -2.0199999809265137, 0.4599999785423279], Run(ps => new Sgd(ps, 0.1)));

    [Fact]
    public void SgdMomentumWithWeightDecayMatchesPyTorch() =>
        AssertClose([0.9778378009796143, -1.9935636520385742, 0.43206337094306946],
            Run(ps => new Sgd(ps, 0.1, momentum: 0.9, weightDecay: 0.01)));

    [Fact]
    public void SgdNesterovMatchesPyTorch() =>
        AssertClose([0.9821458458900452, -2.008324146270752, 0.39747217297554016],
            Run(ps => new Sgd(ps, 0.1, momentum: 0.9, weightDecay: 0.01, nesterov: true)));

    [Fact]
    public void SgdMomentumFirstStepUsesGradientAsBuffer()
    {
        // buf = g + wd·p on the first step, so p1 = p0 − lr·(g + wd·p0), exactly like plain SGD.
        var actual = Run(ps => new Sgd(ps, 0.1, momentum: 0.9, weightDecay: 0.01), steps: 1);
        AssertClose([1 - 0.1 * (0.1 + 0.01 * 1), -2 - 0.1 * (-0.3 + 0.01 * -2), 0.5 - 0.1 * (0.2 + 0.01 * 0.5)], actual);
    }

    [Fact]
    public void AdamWithL2MatchesPyTorch() =>
        AssertClose([0.9755750298500061, -1.9827932119369507, 0.47744983434677124],
            Run(ps => new Adam(ps, 0.01, weightDecay: 0.1)));

    [Fact]
    public void AdamWDecoupledDecayMatchesPyTorch() =>
        AssertClose([0.9797741770744324, -1.9886796474456787, 0.47950759530067444],
            Run(ps => new AdamW(ps, 0.01, weightDecay: 0.1)));

    /// <summary>
    /// β2 = 0.5 makes the second moment shrink between steps, where amsgrad's running maximum takes over; the same
    /// optimiser without the flag lands elsewhere (so a flag that did nothing would fail).
    /// </summary>
    [Fact]
    public void AmsGradMatchesPyTorch()
    {
        AssertClose([0.9750650525093079, -1.9836386442184448, 0.47888559103012085],
            Run(ps => new Adam(ps, 0.01, beta2: 0.5, weightDecay: 0.1, amsgrad: true)));
        AssertClose([0.9743398427963257, -1.9808719158172607, 0.4772752821445465],
            Run(ps => new Adam(ps, 0.01, beta2: 0.5, weightDecay: 0.1)));
    }

    [Fact]
    public void AmsGradIsAnOptimizerName()
    {
        var p = Tensor.Parameter([1f], 1);
        Assert.True(((Adam)Circumvent.Training.Factories.CreateOptimizer("amsgrad", [p], 0.1, 0, 0, false)).AmsGrad);
        Assert.False(((Adam)Circumvent.Training.Factories.CreateOptimizer("adam", [p], 0.1, 0, 0, false)).AmsGrad);
    }

    /// <summary>torch's CosineAnnealingLR(T_max = 100) stepped past T_max, as BackdoorBench's FT-SAM does (same script).</summary>
    [Fact]
    public void CosineWaveMatchesPyTorchsCosineAnnealingSteppedPastTMax()
    {
        var expected = new Dictionary<int, double>
        {
            [0] = 0.01, [1] = 0.009997532801828659, [50] = 0.005000000000000004, [99] = 2.4671981713420015e-06, [100] = 0.0,
            [101] = 2.467198171342e-06, [150] = 0.004999999999999996, [200] = 0.01, [250] = 0.0050000000000000044, [999] = 0.009997532801828676,
        };
        var wave = new CosineSchedule(0.01, 100, continuePastEnd: true);
        foreach (var (step, lr) in expected) Assert.True(Math.Abs(wave.At(step) - lr) < 1e-12, $"step {step}: expected {lr}, got {wave.At(step)}");
    }

    [Fact]
    public void AdamFirstStepMovesEachWeightByLearningRate()
    {
        // With bias correction, step 1 is p −= lr·g/(|g| + ε): every weight moves by ≈ lr against its gradient.
        var actual = Run(ps => new Adam(ps, 0.01), steps: 1);
        AssertClose([0.99, -1.99, 0.49], actual);
    }

    [Fact]
    public void ParametersWithoutGradientAreSkipped()
    {
        var touched = Tensor.Parameter([1f, 1f], 2);
        var untouched = Tensor.Parameter([3f, 4f], 2);
        var optimizer = new Sgd([touched, untouched], 0.5, momentum: 0.9, weightDecay: 0.1);
        touched.GradSpan().Fill(1f);
        optimizer.Step();
        Assert.Null(untouched.Grad);
        Assert.Equal([3f, 4f], untouched.ToArray());
        Assert.NotEqual(1f, touched.ToArray()[0]);
    }

    [Fact]
    public void InvalidHyperParametersAreRejected()
    {
        var p = Tensor.Parameter([1f], 1);
        Assert.Throws<ArgumentException>(() => new Sgd([p], -0.1));
        Assert.Throws<ArgumentException>(() => new Sgd([p], 0.1, momentum: 0, nesterov: true));
        Assert.Throws<ArgumentException>(() => new Adam([p], 0.1, beta1: 1.0));
    }
}
