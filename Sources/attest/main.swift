import ArgumentParser
import AttestCore
print(JCS.format(1e21))
