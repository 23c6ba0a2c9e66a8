"""skorch's hooks for in-memory training, kept lean, as a mixin of the estimator.

The estimator trains through skorch's own loop: ``fit_loop`` ->
``run_single_epoch`` -> ``train_step`` (with the optimiser's closure) ->
``train_step_single`` -> ``get_loss``, notifying callbacks as skorch does.
This mixin only changes how data reaches that loop and what a step costs:

* ``check_data``, ``get_split_datasets`` and ``get_iterator`` hand skorch the
  prepared :class:`~sklimb._batches.FitData` and batch it with
  :class:`~sklimb._batches.ArrayBatches` (per-epoch resampling included);
* ``notify`` calls only the callbacks that implement a hook, and a callback
  raising ``KeyboardInterrupt`` stops training (:class:`StopTraining`);
* ``_set_training`` and ``_zero_grad_optimizer`` skip work that does not
  change anything.
"""

from __future__ import annotations

import torch
from skorch.callbacks import Callback

from ._batches import ArrayBatches, ArrayDataset, FitData
from ._schedules import auto_batch_size


class InMemoryTraining:
    """Mixin for a skorch ``NeuralNet`` trained on :class:`~sklimb._batches.FitData`.

    Reads the net's ``batch_size`` (``"auto"``: its fitted ``batch_size_``, or
    :func:`~sklimb._schedules.auto_batch_size` of the dataset), ``sampler`` and
    ``sampling_ratio``.
    """

    def notify(self, method_name, **cb_kwargs):
        """skorch's ``notify``, calling only the callbacks that implement ``method_name``.

        A callback that inherits skorch's no-op hook is skipped: per batch,
        that leaves the learning-rate schedule and the weight average. A
        callback raising ``KeyboardInterrupt`` asks to stop training.
        """
        getattr(self, method_name)(self, **cb_kwargs)
        for callback in self._callbacks_with(method_name):
            try:
                getattr(callback, method_name)(self, **cb_kwargs)
            except KeyboardInterrupt as stop:
                raise StopTraining from stop

    def _set_training(self, training=True):
        """skorch's mode switch, skipped when every module is in that mode already.

        ``train_step_single`` switches the modules to training mode on every
        batch; walking a network's submodules costs about 0.1 ms a step.
        """
        modules = [getattr(self, name + "_") for name in [*self._modules, *self._criteria]]
        if any(isinstance(module, torch.nn.Module) and module.training is not training
               for module in modules):
            super()._set_training(training)

    def _zero_grad_optimizer(self, set_to_none=None):
        """Drop the gradients, as ``zero_grad(set_to_none=True)`` does, without its
        profiler scope (skorch's documented override point; ``False`` zeroes them)."""
        if set_to_none is False:
            super()._zero_grad_optimizer(set_to_none=False)
            return
        for name in self._optimizers:
            for group in getattr(self, name + "_").param_groups:
                for parameter in group["params"]:
                    parameter.grad = None

    def _callbacks_with(self, method_name):
        """The callbacks implementing ``method_name``, found once per ``callbacks_`` list."""
        hooks = self.__dict__.get("callback_hooks_")
        if hooks is None or hooks[0] is not self.callbacks_:
            hooks = self.callback_hooks_ = (self.callbacks_, {})
        if method_name not in hooks[1]:
            hooks[1][method_name] = [callback for _, callback in self.callbacks_
                                     if _implements(callback, method_name)]
        return hooks[1][method_name]

    def check_data(self, X, y=None):
        if not isinstance(X, FitData):
            super().check_data(X, y)

    def get_split_datasets(self, X, y=None, **fit_params):
        if isinstance(X, FitData):
            return X.train, X.valid
        return super().get_split_datasets(X, y, **fit_params)

    def get_iterator(self, dataset, training=False):
        kwargs = self.get_params_for("iterator_train" if training else "iterator_valid")
        batch_size = kwargs.pop("batch_size", self.batch_size)
        if batch_size == "auto":
            batch_size = self.__dict__.get("batch_size_") or auto_batch_size(len(dataset))
        if not isinstance(dataset, ArrayDataset):  # skorch's own, with the size resolved
            iterator = self.iterator_train if training else self.iterator_valid
            return iterator(dataset, batch_size=len(dataset) if batch_size == -1 else
                            batch_size, **kwargs)
        return ArrayBatches(
            dataset, batch_size,
            shuffle=training and kwargs.get("shuffle", True),
            generator=getattr(dataset, "generator", None),
            sampler=self.sampler if training else None,
            sampling_ratio=self.sampling_ratio,
        )


class StopTraining(Exception):
    """A callback asked to stop training (it raised ``KeyboardInterrupt``, as in skorch)."""


def _implements(callback, method_name):
    """Whether ``callback`` defines ``method_name`` itself rather than skorch's no-op."""
    if method_name in vars(callback):
        return True
    return getattr(type(callback), method_name, None) is not getattr(Callback, method_name, 0)
