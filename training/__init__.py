"""How a multi-task network is trained (ARCHITECTURE.md): ``MultiTaskModel`` and its train
step, the balancers, the min-norm solvers."""

from mtlzoo.training import balancers, solvers
from mtlzoo.training.armijo_line_search import ArmijoLineSearch
from mtlzoo.training.balancer_callback import BalancerCallback
from mtlzoo.training.batch_check import check_batch
from mtlzoo.training.batch_guard import BatchGuard
from mtlzoo.training.batch_norm_slimming import BatchNormSlimming
from mtlzoo.training.min_norm import min_norm
from mtlzoo.training.multi_task_model import MultiTaskModel
from mtlzoo.training.recipe import Recipe
from mtlzoo.training.step_context import StepContext
from mtlzoo.training.variable_groups import VariableGroups

__all__ = ["ArmijoLineSearch", "BalancerCallback", "BatchGuard", "BatchNormSlimming", "check_batch", "MultiTaskModel", "Recipe", "StepContext", "VariableGroups", "balancers",
           "min_norm", "solvers"]
