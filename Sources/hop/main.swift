import HopCommands
import Foundation

exit(Hop.main(arguments: Array(CommandLine.arguments.dropFirst())))
