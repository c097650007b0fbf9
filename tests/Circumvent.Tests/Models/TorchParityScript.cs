namespace Circumvent.Tests.Models;

/// <summary>
/// Python run by <see cref="TorchParityTests"/>: rebuilds the reference PyTorch modules (BackdoorBench
/// PreActResNet18, kuangliu ResNet18) at a width multiplier, loads our checkpoint with
/// load_state_dict(strict=True), and writes eval logits, train logits and the momentum-updated BN buffers.
/// argv: architecture, width, classes, checkpoint, input, output.
/// </summary>
internal static class TorchParityScript
{
    /// <summary>The safetensors helpers and the reference modules (Net), for other parity scripts to build on.</summary>
    public const string Definitions = """
import json, struct, sys
import torch, torch.nn as nn, torch.nn.functional as F

def read_safetensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    buf = data[8 + n:]
    dtypes = {"F32": torch.float32, "I64": torch.int64}
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        t = torch.frombuffer(bytearray(buf[b:end]), dtype=dtypes[e["dtype"]]) if end > b else torch.empty(0, dtype=dtypes[e["dtype"]])
        out[name] = t.reshape(e["shape"]).clone()
    return out

def write_safetensors(path, tensors):
    header, chunks, offset = {}, [], 0
    for name, t in tensors.items():
        raw = t.detach().contiguous().float().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(chunks))

class PreActBlock(nn.Module):
    def __init__(self, inp, planes, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inp)
        self.conv1 = nn.Conv2d(inp, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        if stride != 1 or inp != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(inp, planes, 1, stride, bias=False))
    def forward(self, x):
        out = F.relu(self.bn1(x))
        sc = self.shortcut(out) if hasattr(self, "shortcut") else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + sc

class BasicBlock(nn.Module):
    def __init__(self, inp, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inp, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or inp != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(inp, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))

class Net(nn.Module):
    def __init__(self, pre, width, classes, in_ch):
        super().__init__()
        w = lambda c: max(1, round(c * width))
        block = PreActBlock if pre else BasicBlock
        self.pre = pre
        self.conv1 = nn.Conv2d(in_ch, w(64), 3, 1, 1, bias=False)
        if not pre:
            self.bn1 = nn.BatchNorm2d(w(64))
        inp = w(64)
        for i, (planes, stride) in enumerate(zip([64, 128, 256, 512], [1, 2, 2, 2])):
            blocks = []
            for s in [stride, 1]:
                blocks.append(block(inp, w(planes), s))
                inp = w(planes)
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.linear = nn.Linear(inp, classes)
    def forward(self, x):
        out = self.conv1(x) if self.pre else F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return self.linear(torch.flatten(self.avgpool(out), 1))
""";

    public const string Source = Definitions + """

arch, width, classes, ckpt, inp, outp = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
x = read_safetensors(inp)["x"]
net = Net(arch == "preact-resnet18", width, classes, x.shape[1]).double()
net.load_state_dict(read_safetensors(ckpt), strict=True)
x = x.double()
result = {}
with torch.no_grad():
    net.eval()
    result["eval_logits"] = net(x)
    net.train()
    result["train_logits"] = net(x)
for name, t in net.state_dict().items():
    if name.endswith("running_mean") or name.endswith("running_var"):
        result[name] = t
write_safetensors(outp, result)
""";
}
