"""What tells a page is all in Chinese: the Latin words it may keep, and its headings' and buttons' visible words."""

import re

# Latin words a Chinese interface keeps: names of things (the data set, the product, optimizers, file types) and
# the few terms the Chinese tutorials write in English.
KEPT = {
    "mnist", "digit", "lab", "fashion", "pytorch", "cnn", "mlp", "adam", "adamw", "sgd", "adadelta", "softmax", "epoch",
    "logits", "relu", "png", "jpg", "jpeg", "zip", "cpu", "gpu", "cuda", "mps", "idx", "bfloat16", "float32", "bf16",
    "amx", "avx", "onecycle", "url", "id", "ok", "my", "digits", "strided", "lenet", "sne", "python", "totensor",
    "normalize", "logsoftmax", "nllloss", "ln", "none", "torchvision", "uint", "float", "dropout",
}  # fmt: skip
HEADINGS = "[data-testid=stMain] :is(h1, h2, h3), [data-testid=stSidebarNavLink]"
BUTTONS = "[data-testid=stMain] button, [data-testid=stSidebar] button"
# The visible words of each element: icons are drawn from an icon font whose glyph names ("search") are text too;
# code (`loss.backward()`) is PyTorch's own words.
WORDS = """(elements) => elements.filter(e => e.offsetParent !== null).map(e => {
  const copy = e.cloneNode(true);
  copy.querySelectorAll('[data-testid=stIconMaterial], [data-testid=stIconEmoji], code').forEach(i => i.remove());
  return copy.textContent.trim();
}).filter(t => t)"""
CJK = re.compile(r"[\u4e00-\u9fff]")


# Names from PyTorch's code kept as written (in_features, loss.backward(), F.cross_entropy): a dot, an underscore or
# brackets make a word code, not English.
CODE = re.compile(r"[\w.]*(?:_|\.\w|\(\))[\w.()]*")


def english_left(text: str) -> list[str]:
    return [w for w in re.findall(r"[A-Za-z]{2,}", CODE.sub(" ", text)) if w.lower() not in KEPT]
