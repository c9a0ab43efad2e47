import AttestCore
import SpecKit
