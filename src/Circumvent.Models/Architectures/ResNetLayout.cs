namespace Circumvent.Models;

/// <summary>One residual block: state_dict prefix ("layer2.0"), channels in/out, stride, projection shortcut?</summary>
internal sealed record ResidualBlock(string Prefix, int InPlanes, int Planes, int Stride)
{
    public bool HasShortcut => Stride != 1 || InPlanes != Planes;
}

/// <summary>The block plan shared by both ResNet18 variants: 2 blocks per stage, planes 64/128/256/512 × width, strides 1/2/2/2.</summary>
internal sealed record ResNetLayout(int StemChannels, IReadOnlyList<ResidualBlock> Blocks)
{
    public int OutChannels => Blocks[^1].Planes;

    public static ResNetLayout ResNet18(int inChannels, double width)
    {
        int[] planes = [64, 128, 256, 512];
        int[] strides = [1, 2, 2, 2];
        int stem = Layers.Scale(64, width), inPlanes = stem;
        var blocks = new List<ResidualBlock>();
        for (int stage = 0; stage < 4; stage++)
        {
            int outPlanes = Layers.Scale(planes[stage], width);
            for (int i = 0; i < 2; i++)
            {
                blocks.Add(new ResidualBlock($"layer{stage + 1}.{i}", inPlanes, outPlanes, i == 0 ? strides[stage] : 1));
                inPlanes = outPlanes;
            }
        }
        return new ResNetLayout(stem, blocks);
    }
}
