"""Fine-tuning and evaluation of zoo models, in PyTorch and in TensorFlow/Keras, with one API.

Map of the package (framework-neutral modules first, then one module per framework):

- ``settings``   :class:`FinetuneSettings`, nested groups with working defaults and ``--set`` parsing
- ``schedule``   ``lr_factor``: warmup then cosine/linear/constant, shared by both trainers
- ``loop``       what both trainers share: step plan, best-model/early-stop monitor, time budget
- ``progress``   the progress display (tqdm in Jupyter, rich in a terminal, nothing when quiet)
- ``runfolder``  the run folder: config, metrics.csv, TensorBoard, checkpoints, best/ and final/
- ``evaluation`` metrics (scikit-learn), :class:`EvaluationReport`, ``evaluate``
- ``api``        ``finetune`` and :class:`FinetuneRun`; the trainer contract is in its docstring
- ``torch_trainer`` / ``keras_trainer``  the two training loops

``zoolab.zoo`` exposes ``finetune``, ``evaluate``, ``FinetuneSettings``, ``FinetuneRun`` and
``EvaluationReport`` lazily; importing this package imports no framework.
"""
