"""NeuralGraph placeholder while the skeleton is laid."""


class NeuralGraph:
    pass
