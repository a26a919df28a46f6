import Hummingbird
import HopCore
