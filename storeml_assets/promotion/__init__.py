"""The promotion domain: six gates decide whether a family's candidate becomes its champion."""
