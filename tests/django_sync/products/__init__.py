"""A stand-in for pyERP's ``products`` app: the models the Django sink tests fill."""
