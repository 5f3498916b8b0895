# A CNN follows PyTorch's trajectory: from a dptrain initial checkpoint, loaded with
# load_state_dict into an nn.Sequential of the same layers (the same logits as dptrain predict),
# 50 full-batch Adam steps give per-step losses and final parameters within 1e-4 relative of
# dptrain's (dropout off). The first conv runs as im2col, the second (8 input channels) as Winograd
# (model.conv_algorithm = auto). Needs Debian's python3-torch; skipped loudly without it.
. tests/lib.sh
cd "$TMP"
if ! $PY -c "import torch" 2> /dev/null; then
  skipped "the CNN trajectory against PyTorch" "python3-torch is not installed"
  exit 0
fi
make_images img 64
layers="conv 8 3x3 pad 1, relu, maxpool 2, conv 6 3x3 stride 1, tanh, avgpool 2, flatten, dense 8, sigmoid, dense 3"
cat > exp.ini <<INI
[data]
train = img_x.npy
train_targets = img_y.npy
task = classify
[model]
layers = $layers
[loss]
kind = cross_entropy
[optimizer]
kind = adam
lr = 0.01
[training]
epochs = 50
batch = 64
[checkpoint]
every_epochs = 50
[run]
name = cnn
INI
# One plain SGD step at rate 0 saves the initial parameters unchanged.
"$DPTRAIN" train exp.ini --set optimizer.kind=sgd --set optimizer.lr=0 --set training.epochs=1 \
  --set checkpoint.every_epochs=1 --set run.name=init > init.log || { cat init.log; fail "init run failed"; }
init=$(last_ckpt runs/init)
"$DPTRAIN" train exp.ini --init "$init" > train.log || { cat train.log; fail "train failed"; }
cut -d, -f1-64 img.csv > rows.csv
"$DPTRAIN" predict "$init" rows.csv -o logits.csv
$PY - "$init" "$(last_ckpt runs/cnn)" runs/cnn/metrics.jsonl logits.csv <<'PYEOF'
import json, struct, sys
import numpy as np
import torch
import torch.nn as nn
torch.set_num_threads(1)

def load(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    head = json.loads(raw[8:8 + n]); head.pop("__metadata__")
    return {k: torch.from_numpy(np.frombuffer(raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]],
            dtype="<f4").reshape(v["shape"]).copy()) for k, v in head.items() if k.startswith("layers.")}

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                    nn.Conv2d(8, 6, 3, stride=1), nn.Tanh(), nn.AvgPool2d(2), nn.Flatten(),
                                    nn.Linear(6, 8), nn.Sigmoid(), nn.Linear(8, 3))
    def forward(self, x):
        return self.layers(x)

net = Net()
net.load_state_dict(load(sys.argv[1]), strict=True)  # dptrain's names and shapes, as they are
x = torch.from_numpy(np.load("img_x.npy")).unsqueeze(1)
y = torch.from_numpy(np.load("img_y.npy"))
with torch.no_grad():
    logits = net(x).numpy()
ref = np.loadtxt(sys.argv[4], delimiter=",")
err = np.max(np.abs(logits - ref)) / np.max(np.abs(ref))
print("initial logits, torch vs dptrain predict: relative difference %.3g" % err)
ok = err < 1e-5
opt = torch.optim.Adam(net.parameters(), lr=0.01)
losses = []
for step in range(50):
    opt.zero_grad()
    loss = nn.functional.cross_entropy(net(x), y)
    losses.append(loss.item())
    loss.backward()
    opt.step()
ours = [json.loads(l)["train_loss"] for l in open(sys.argv[3])]
worst = max(abs(a - b) / abs(b) for a, b in zip(ours, losses))
print("per-step loss over %d steps: largest relative difference %.3g" % (len(ours), worst))
ok = ok and len(ours) == 50 and worst < 1e-4
final = load(sys.argv[2])
for name, p in net.state_dict().items():
    d = (final[name] - p).abs().max().item() / p.abs().max().item()
    print("%s: relative difference %.3g" % (name, d))
    ok = ok and d < 1e-4
sys.exit(0 if ok else 1)
PYEOF
