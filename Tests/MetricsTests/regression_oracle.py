# Oracle for Tests/MetricsTests/RegressionMetricsTests.swift: scikit-learn 1.x and numpy.
# Run once: python3 regression_oracle.py; the printed numbers are committed in the test.
import math, numpy as np
from sklearn.metrics import mean_squared_error, mean_absolute_error, r2_score
n = 40
y = np.array([((i * 37) % 17) / 4 + 1 for i in range(n)])
p = np.array([y[i] + math.sin(i) * 0.7 - 0.1 for i in range(n)])
w = np.array([1.0 + (i % 3) for i in range(n)])
seg = np.array([i % 4 for i in range(n)])
def show(name, y, p, w=None):
    r = y - p
    mse = mean_squared_error(y, p, sample_weight=w)
    mae = mean_absolute_error(y, p, sample_weight=w)
    r2 = r2_score(y, p, sample_weight=w)
    mr = np.average(r, weights=w)
    sr = math.sqrt(np.average((r - mr) ** 2, weights=w))
    print(f'("{name}", {mse!r}, {math.sqrt(mse)!r}, {mae!r}, {r2!r}, {float(mr)!r}, {sr!r}),')
show("all", y, p)
show("weighted", y, p, w)
for s in range(4):
    m = seg == s
    show(f"segment {s}", y[m], p[m])
