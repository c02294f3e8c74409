"""Fine-tuning YOLOX-Nano on an operations centre's own labelled camera frames.

``ioc models train DATA --out NAME`` reads Pascal VOC or YOLO labels
(`training.dataset`), holds out one camera (split by camera, never by image), starts
from the stock COCO YOLOX-Nano ONNX weights (`training.onnx_weights`) with the class
head narrowed to the dataset's classes, trains (`training.train`, SimOTA loss in
`training.loss`), measures recall/precision on the held-out camera
(`training.evaluate`) and exports ONNX with the class names inside (`training.export`).

PyTorch is imported lazily: the hub and the edge import nothing from here, and this
package's top level imports no torch (``pip install 'ioc[train]'`` brings it).
"""

from training.exceptions import DatasetError, TrainExtraMissing, TrainingError, WeightsError

__all__ = ["DatasetError", "TrainExtraMissing", "TrainingError", "WeightsError"]
